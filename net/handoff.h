// Handing a connected socket from one process to another (SCM_RIGHTS over a unix stream socket).
// Why: a load balancer that hands each client connection to a server, instead of copying its
// bytes both ways, leaves the data path: no extra hop (two wake-ups and two copies) per request.
// net::Balancer sends with send_fd(); HttpServer (Options::handoff) receives with recv_fds().
#pragma once
#include <sys/types.h>

#include <vector>

namespace net {

// Sends `fd` over the connected unix stream socket `via`, with one byte of payload (a message
// with no payload carries no descriptor). Never blocks and never raises SIGPIPE. Returns 0, or
// the errno: EAGAIN when the receiver's buffer is full (it is not reading), EPIPE/ECONNRESET when
// it is gone. On success the receiver holds its own copy: the caller still closes `fd`.
int send_fd(int via, int fd);

// Reads what `via` holds now, appending every descriptor received to `out` (close-on-exec set).
// Returns the payload bytes read (> 0), 0 at EOF, or -1 with errno (EAGAIN: nothing more now).
// Descriptors beyond what one call's control buffer holds are closed by the kernel (MSG_CTRUNC);
// a sender that sends one per message, as send_fd() does, never loses one.
ssize_t recv_fds(int via, std::vector<int>& out);

}  // namespace net
