#include "tests/support/load.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "net/event_loop.h"
#include "net/http_client.h"
#include "tests/support/test_ids.h"

namespace testsupport {
namespace {
constexpr std::chrono::milliseconds kTick{10};
}

Load::Load(Options opt) : opt_(opt), loop_(std::make_unique<net::EventLoop>()) {
  net::HttpClient::Options co;
  co.max_connections = 1024;
  co.connect_timeout = std::chrono::milliseconds(500);
  client_ = std::make_unique<net::HttpClient>(*loop_, co);
}

Load::~Load() {
  if (thread_.joinable()) stop();
}

void Load::set_targets(const std::vector<uint16_t>& ports) {
  std::lock_guard lk(mu_);
  ports_ = ports;
}

int64_t Load::elapsed_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0_).count();
}

void Load::start() {
  t0_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] {
    loop_->add_timer(kTick, [this] { tick(); });
    loop_->run();
    client_.reset();
  });
}

void Load::tick() {
  if (stopping_) {
    if (pending_ == 0) loop_->stop();
    else loop_->add_timer(kTick, [this] { tick(); });
    return;
  }
  std::vector<uint16_t> ports;
  {
    std::lock_guard lk(mu_);
    ports = ports_;
  }
  owed_ += opt_.rate * (kTick.count() / 1000.0);
  while (owed_ >= 1 && !ports.empty()) {
    owed_ -= 1;
    size_t n = posted_.size();
    Posted p;
    p.cid = test_uuid(opt_.first_id + static_cast<int>(n));
    p.cents = 1000 + static_cast<int64_t>(n % 997);  // varied amounts: a wrong sum shows
    p.sent_ms = elapsed_ms();
    posted_.push_back(p);
    auto ep = net::Endpoint::parse(fmt::format("http://127.0.0.1:{}", ports[n % ports.size()]));
    auto body = fmt::format(R"({{"correlationId":"{}","amount":{}.{:02d}}})", p.cid, p.cents / 100, p.cents % 100);
    ++sent_;
    ++pending_;
    client_->request(ep, "POST", "/payments", body, "", opt_.timeout, [this, n](net::ClientResult&& r) {
      posted_[n].status = r.error == net::ClientError::none ? r.status : 0;
      if (r.error != net::ClientError::none) posted_[n].error = net::to_string(r.error);
      posted_[n].done_ms = elapsed_ms();
      if (posted_[n].ok()) ++ok_;
      --pending_;
    });
  }
  loop_->add_timer(kTick, [this] { tick(); });
}

std::vector<Posted> Load::stop() {
  if (!thread_.joinable()) return posted_;
  loop_->post([this] { stopping_ = true; });
  thread_.join();
  return posted_;
}

int64_t recovery_ms(const std::vector<Posted>& posted, int64_t fault_end_ms) {
  // The last failure sent after the fault ended marks the end of recovery.
  int64_t last_fail = -1;
  bool any_after = false;
  for (const auto& p : posted) {
    if (p.sent_ms < fault_end_ms) continue;
    any_after = true;
    if (!p.ok()) last_fail = std::max(last_fail, p.sent_ms);
  }
  if (!any_after) return -1;
  return last_fail < 0 ? 0 : last_fail - fault_end_ms;
}

bool full_scale() {
  const char* v = std::getenv("FAULT_SCALE");
  return v && std::string(v) == "full";
}

}  // namespace testsupport
