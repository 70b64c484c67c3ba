// SIGINT/SIGTERM handling shared by the engine and the bench servers: blocked in every thread
// (call before starting any), then taken synchronously by the main thread.
#pragma once
#include <csignal>

namespace net {

// Blocks SIGINT and SIGTERM for this thread and the threads it starts; ignores SIGPIPE.
sigset_t block_stop_signals();
// Waits for SIGINT or SIGTERM; returns which.
int wait_stop_signal(const sigset_t& set);

}  // namespace net
