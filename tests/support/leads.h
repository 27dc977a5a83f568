// Lead builders shared by the end-to-end tests.
#ifndef CAMPAIGN_TESTS_SUPPORT_LEADS_H_
#define CAMPAIGN_TESTS_SUPPORT_LEADS_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "outbound/v1/resources.pb.h"

namespace campaign::testing {

// A request lead.
inline outbound::v1::Lead MakeLead(int64_t lead_id, const std::string& phone,
                                   const std::string& name = "") {
  outbound::v1::Lead lead;
  lead.set_lead_id(lead_id);
  lead.set_phone(phone);
  lead.set_name(name);
  return lead;
}

// A valid US number, distinct per lead id below 9,000 and never one of the
// simulated dialer's magic numbers.
inline std::string PhoneOf(int64_t lead_id) {
  return absl::StrCat("+1415555", 1000 + lead_id % 9000);
}

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_LEADS_H_
