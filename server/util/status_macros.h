// Early returns on errors of absl::Status and absl::StatusOr, so a chain of
// fallible steps reads as the steps:
//
//   RETURN_IF_ERROR(ValidatePositiveId(run_id, "run_id"));
//   ASSIGN_OR_RETURN(Run run, store.GetRun(business_id, run_id));
//
// The error is returned unchanged (a function returning StatusOr<T> returns
// it as its status). Where an error is transformed or logged before it is
// returned, write the check out instead.
#ifndef CAMPAIGN_SERVER_UTIL_STATUS_MACROS_H_
#define CAMPAIGN_SERVER_UTIL_STATUS_MACROS_H_

#include <utility>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) once and returns it from the enclosing
// function when it is not OK. A StatusOr does not compile here: use
// ASSIGN_OR_RETURN, so a value is never computed and dropped unseen.
#define RETURN_IF_ERROR(expr)                                      \
  do {                                                             \
    if (::absl::Status campaign_status_macros_status = (expr);     \
        ABSL_PREDICT_FALSE(!campaign_status_macros_status.ok())) { \
      return campaign_status_macros_status;                        \
    }                                                              \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>) once; returns its status from the
// enclosing function when it is not OK, else moves the value into `lhs`: a
// new variable (`auto x`, `const Run& run`) or an existing one. Expands to
// several statements, so it cannot be the body of an if or loop without
// braces; `lhs` must not contain an unparenthesised comma.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  CAMPAIGN_ASSIGN_OR_RETURN_IMPL_(   \
      CAMPAIGN_STATUS_MACROS_CONCAT_(campaign_status_macros_value_, __COUNTER__), lhs, rexpr)

// Implementation details of the macros above.
#define CAMPAIGN_STATUS_MACROS_CONCAT_INNER_(x, y) x##y
#define CAMPAIGN_STATUS_MACROS_CONCAT_(x, y) CAMPAIGN_STATUS_MACROS_CONCAT_INNER_(x, y)
#define CAMPAIGN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                    \
  if (ABSL_PREDICT_FALSE(!statusor.ok())) {                   \
    return std::move(statusor).status();                      \
  }                                                           \
  lhs = *std::move(statusor)

#endif  // CAMPAIGN_SERVER_UTIL_STATUS_MACROS_H_
