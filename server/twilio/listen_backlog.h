// cpp-httplib 0.11 listens with an accept backlog of 5 and has no setting for
// it: a burst of connections (Twilio's callbacks, or 200 dials at the fake)
// overflows the accept queue, and the dropped handshakes stall for seconds.
// This raises the backlog of an already listening socket (Linux applies a
// second listen() to the socket in place).
#ifndef CAMPAIGN_SERVER_TWILIO_LISTEN_BACKLOG_H_
#define CAMPAIGN_SERVER_TWILIO_LISTEN_BACKLOG_H_

namespace campaign::twilio {

// Calls listen(fd, backlog) on every listening TCP socket of this process
// bound to `port`; false when none was found.
bool RaiseListenBacklog(int port, int backlog);

}  // namespace campaign::twilio

#endif  // CAMPAIGN_SERVER_TWILIO_LISTEN_BACKLOG_H_
