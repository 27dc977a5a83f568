// campaignd's command line: subcommands serve, migrate, create-business,
// create-api-key and revoke-api-key, configured by flags with environment
// fallbacks.
#ifndef CAMPAIGN_SERVER_CLI_CLI_H_
#define CAMPAIGN_SERVER_CLI_CLI_H_

namespace campaign::cli {

// Runs campaignd; returns the process exit code.
int Main(int argc, char** argv);

}  // namespace campaign::cli

#endif  // CAMPAIGN_SERVER_CLI_CLI_H_
