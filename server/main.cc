// campaignd: the outbound campaign service (see server/cli/cli.h).
#include "server/cli/cli.h"

int main(int argc, char** argv) { return campaign::cli::Main(argc, argv); }
