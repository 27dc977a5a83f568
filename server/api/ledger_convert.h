// Translation of the do-not-call list and the attempt ledger to the
// outbound.v1 messages (kept apart from convert.h, which carries runs, jobs
// and policies).
#ifndef CAMPAIGN_SERVER_API_LEDGER_CONVERT_H_
#define CAMPAIGN_SERVER_API_LEDGER_CONVERT_H_

#include "outbound/v1/resources.pb.h"
#include "server/model/model.h"
#include "server/store/do_not_call_store.h"

namespace campaign::api {

// Fills `out` from a ledger row (unset times stay unset; an attempt in
// progress has outcome UNSPECIFIED).
void ToProto(const CallAttempt& attempt, outbound::v1::CallAttempt* out);
// Fills `out` from a number of a do-not-call list.
void ToProto(const store::DoNotCallNumber& number, outbound::v1::DoNotCallNumber* out);

}  // namespace campaign::api

#endif  // CAMPAIGN_SERVER_API_LEDGER_CONVERT_H_
