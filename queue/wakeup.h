// In-process "new messages" signal per queue name: a reader blocked in wait() wakes as soon as
// a sender of the same process commits, instead of polling. Messages sent by other processes are
// found by the bounded timeout the caller passes (the safety-net poll).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace pgq {

// Called after a send committed.
void wakeup_notify(const std::string& queue);
// Returns the current generation; pass it to wakeup_wait to sleep until a later notify.
uint64_t wakeup_generation(const std::string& queue);
// Returns true if notified after `seen`, false on timeout.
bool wakeup_wait(const std::string& queue, uint64_t seen, std::chrono::milliseconds timeout);

}  // namespace pgq
