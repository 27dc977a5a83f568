// A loopback fake of Twilio's REST API (the calls the dialer makes) and of
// Twilio's status callbacks, for tests. Written by us on cpp-httplib.
//
// REST: POST /2010-04-01/Accounts/{AccountSid}/Calls.json creates a call
// (answers with a fresh 34-character "CA…" SID), GET …/Calls/{sid}.json
// looks one up, POST …/Calls/{sid}.json with Status=completed|canceled ends
// one. Basic auth is checked (the account SID + auth token, or an API key
// SID + secret); a wrong one is 401 with Twilio's error 20003. Every create
// request is recorded (form fields, time, answer), and how creates are
// answered is scriptable: per request (a queue of replies taken in order)
// or globally: ok, 429, 500, 400 with a code and message, hang until
// released, slow by N ms.
//
// Callbacks: SendStatusCallback POSTs a form to a URL the way Twilio does,
// correctly signed, unsigned, wrongly signed or signed for another URL; with
// SetAutoCallbacks the fake also plays each call it creates through a script
// of statuses on its own threads (load tests and tools/bench, where the test
// cannot drive thousands of calls by hand).
#ifndef CAMPAIGN_TESTS_SUPPORT_FAKE_TWILIO_H_
#define CAMPAIGN_TESTS_SUPPORT_FAKE_TWILIO_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/twilio/form.h"

namespace campaign::testing {

// How the fake answers one create request.
struct FakeReply {
  enum class Mode {
    // 201 with a new call (status "queued").
    kOk,
    // 429, Twilio error 20429.
    kTooManyRequests,
    // 500, Twilio error 20500.
    kServerError,
    // 400 with `code` and `message`; no call made.
    kBadRequest,
    // No answer until ReleaseHung() (or the fake stops); then 201 with a call.
    kHang,
    // 201 with a call after `delay`.
    kSlow,
  };
  Mode mode = Mode::kOk;
  // For kBadRequest.
  int code = 21211;
  std::string message = "The 'To' number is not a valid phone number.";
  // For kSlow.
  absl::Duration delay = absl::ZeroDuration();

  static FakeReply Ok() { return {}; }
  static FakeReply TooManyRequests() { return {Mode::kTooManyRequests}; }
  static FakeReply ServerError() { return {Mode::kServerError}; }
  static FakeReply BadRequest(int code, std::string message) {
    return {Mode::kBadRequest, code, std::move(message)};
  }
  static FakeReply Hang() { return {Mode::kHang}; }
  static FakeReply Slow(absl::Duration delay) {
    FakeReply reply{Mode::kSlow};
    reply.delay = delay;
    return reply;
  }
};

// One create request as the fake saw it.
struct FakeCreate {
  absl::Time received;
  // Basic auth user (account SID or API key SID); empty when none was sent.
  std::string user;
  bool authorized = false;
  twilio::FormParams form;
  // The HTTP status answered (0 while a hung request is still open).
  int http_status = 0;
  // The call made; empty when none.
  std::string call_sid;
};

// A call the fake holds.
struct FakeCall {
  std::string sid;
  // Twilio's spelling ("queued", "in-progress", ...).
  std::string status;
  std::string to;
  std::string from;
  std::string status_callback;
};

// A script the fake plays for every call it creates: each status is sent
// (signed, to the call's StatusCallback) `after` the create was answered.
struct AutoStep {
  // Twilio's spelling: "initiated", "ringing", "in-progress", "completed",
  // "busy", "no-answer", "failed".
  std::string status;
  absl::Duration after = absl::ZeroDuration();
};

// How SendStatusCallback signs.
enum class SignMode {
  kSigned,
  kUnsigned,
  // A signature of the right shape computed with another token.
  kWrongSignature,
  // Correctly computed, but over another URL than the one posted to.
  kSignedForOtherUrl,
};

// The fake. Thread-safe.
class FakeTwilio {
 public:
  struct Options {
    std::string account_sid = "AC0123456789abcdef0123456789abcdef";
    std::string auth_token = "fake-auth-token";
    // Accepted as an alternative basic-auth user/password.
    std::string api_key_sid = "SK0123456789abcdef0123456789abcdef";
    std::string api_key_secret = "fake-api-key-secret";
    // HTTP threads: one per open connection, so at least the concurrency a
    // test drives.
    int threads = 300;
    // Threads sending the automatic callbacks (SetAutoCallbacks).
    int callback_threads = 16;
  };

  // Listens on 127.0.0.1, a free port. Aborts the test binary when it cannot.
  FakeTwilio();
  explicit FakeTwilio(Options options);
  // Releases hung requests and stops.
  ~FakeTwilio();
  FakeTwilio(const FakeTwilio&) = delete;
  FakeTwilio& operator=(const FakeTwilio&) = delete;

  // "http://127.0.0.1:PORT" (the client's api_base).
  std::string BaseUrl() const;
  const Options& options() const;

  // How creates are answered when no scripted reply is left (default kOk).
  void SetDefaultReply(FakeReply reply);
  // Appends a reply for the next unscripted create request.
  void PushReply(FakeReply reply);
  // Answers every hung request (and later kHang ones at once).
  void ReleaseHung();
  // Makes later kHang replies hang again after a ReleaseHung.
  void ResetHung();

  // Every create request so far, in arrival order.
  std::vector<FakeCreate> Creates() const;
  int CreateCount() const;
  // Create requests being handled now, and the most at once so far.
  int InFlightCreates() const;
  int MaxConcurrentCreates() const;

  // The call with this SID; nullopt when there is none.
  std::optional<FakeCall> Call(absl::string_view sid) const;
  // Sets a call's status (as Twilio would as the call progresses).
  void SetCallStatus(absl::string_view sid, absl::string_view status);
  // Every POST …/Calls/{sid}.json update so far: (sid, Status).
  std::vector<std::pair<std::string, std::string>> Updates() const;

  // Plays `steps` for every call created from now on ({} stops it). A
  // callback answered 503 or not at all is retried after 200 ms, five times
  // at most (Twilio's listener contract: 503 means "try again").
  void SetAutoCallbacks(std::vector<AutoStep> steps);
  // Automatic callbacks answered 2xx, and those given up on.
  int AutoCallbacksDelivered() const;
  int AutoCallbacksFailed() const;
  // Automatic callbacks not yet sent.
  int AutoCallbacksPending() const;

  // Deliver callbacks whose URL starts with `public_base` to
  // `deliver_base` + the rest instead (a TLS-terminating proxy in front of
  // the listener). Signatures are still over the public URL.
  void SetCallbackDelivery(std::string public_base, std::string deliver_base);

  // POSTs `params` (form-encoded) to `url` as Twilio's status callback,
  // signed per `mode` with the auth token. Returns the HTTP status, or an
  // error when no answer came.
  absl::StatusOr<int> SendStatusCallback(absl::string_view url, const twilio::FormParams& params,
                                         SignMode mode = SignMode::kSigned) const;

  // The form Twilio posts for a call event of a call this fake made (CallSid,
  // AccountSid, CallStatus, To, From, plus `extra`).
  twilio::FormParams CallbackParams(absl::string_view call_sid, absl::string_view call_status,
                                    const twilio::FormParams& extra = {}) const;

  // Sends the callback of `call_sid` (made by this fake) to its
  // StatusCallback, with its status set to `call_status` first.
  absl::StatusOr<int> SendCallStatus(absl::string_view call_sid, absl::string_view call_status,
                                     const twilio::FormParams& extra = {},
                                     SignMode mode = SignMode::kSigned);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace campaign::testing

#endif  // CAMPAIGN_TESTS_SUPPORT_FAKE_TWILIO_H_
