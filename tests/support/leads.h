// The lead generator of the tests: request leads (proto) for the API and
// domain leads for the store and the scheduler, with valid phones that are
// never one of the simulated dialer's magic numbers.
#ifndef CAMPAIGN_TESTS_SUPPORT_LEADS_H_
#define CAMPAIGN_TESTS_SUPPORT_LEADS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "outbound/v1/resources.pb.h"
#include "server/model/model.h"

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

// A phone whose last four digits are 1000..9999: never one of the simulated
// dialer's magic suffixes (0001..0004); distinct for i below 8,100,000.
inline std::string PlainPhone(int64_t i) {
  return absl::StrFormat("+1415%03d%04d", 100 + i / 9000, 1000 + i % 9000);
}

// `count` domain leads with lead ids first, first + 1, ..., plain phones and
// names "Lead <id>".
inline std::vector<Lead> MakeLeads(int count, int64_t first = 1) {
  std::vector<Lead> leads;
  leads.reserve(count);
  for (int i = 0; i < count; ++i) {
    leads.push_back(Lead{first + i, PlainPhone(first + i), absl::StrCat("Lead ", first + i)});
  }
  return leads;
}

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_LEADS_H_
