#include "workloads/functional_run.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "model/error.h"
#include "model/rng.h"
#include "workloads/serving.h"

namespace npusim {

std::vector<FunctionalRequest> FunctionalRequests(int64_t count, int64_t input_len,
                                                  int64_t output_len, int64_t vocab,
                                                  uint64_t seed) {
  Rng rng(seed * 0x2545F4914F6CDD1DULL + 3);
  std::vector<FunctionalRequest> out;
  for (int64_t i = 0; i < count; ++i) {
    FunctionalRequest r;
    r.id = i;
    r.output_len = output_len;
    // Lengths differ per request (input_len, input_len - 7, ...) so batches mix lengths and tails.
    const int64_t len = std::max<int64_t>(1, input_len - 7 * i);
    for (int64_t t = 0; t < len; ++t)
      r.prompt.push_back(static_cast<int32_t>(rng.UniformInt(0, vocab - 1)));
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

// One functional run: the scheduler's batches through the functional model, request by request
// records of tokens, logits and states.
class FunctionalRunner {
 public:
  FunctionalRunner(FunctionalModel& model, const std::vector<FunctionalRequest>& reqs, int64_t H,
                   int64_t draft_tokens)
      : model_(model), reqs_(reqs), live_(reqs.size()), H_(H), dtok_(draft_tokens) {
    res_.requests.resize(reqs.size());
  }

  // One scheduler batch; returns the tokens each decode entry produced, in batch order.
  std::vector<int64_t> Step(const Batch& b) {
    ++res_.steps;
    std::vector<FunctionalModel::Entry> prefill, decode;
    std::vector<int64_t> pre_ids, dec_ids;
    for (const BatchEntry& e : b.groups[0]) {
      const FunctionalRequest& r = reqs_[static_cast<size_t>(e.request)];
      FunctionalModel::Entry x;
      x.slot = Slot(e.request);
      if (e.decode) {
        x.prefix = live_[static_cast<size_t>(e.request)].processed;
        x.tokens = {res_.requests[static_cast<size_t>(e.request)].tokens.back()};
        decode.push_back(x);
        dec_ids.push_back(e.request);
      } else {
        x.prefix = e.prefix;
        x.tokens.assign(r.prompt.begin() + e.prefix, r.prompt.begin() + e.prefix + e.new_tokens);
        prefill.push_back(x);
        pre_ids.push_back(e.request);
      }
    }
    bool with = false, without = false;
    for (const auto& x : prefill) (x.prefix > 0 ? with : without) = true;
    res_.mixed_prefill_steps += with && without;
    if (!prefill.empty()) Prefill(prefill, pre_ids);
    if (decode.empty()) return {};
    return dtok_ == 0 ? Decode(decode, dec_ids) : MtpRound(decode, dec_ids);
  }

  FunctionalResult Finish() {
    res_.kernel_errors = model_.kernel_errors();
    res_.kernel_calls = model_.kernel_calls();
    return std::move(res_);
  }

  static int64_t Slot(int64_t id) { return id + 1; }

 private:
  struct Live {
    int64_t processed = 0;       // tokens whose KV / state is in the caches
    std::vector<double> hidden;  // target hidden at the last processed position (MTP)
    int64_t draft_len = 0;       // tokens in the draft layer's KV
  };

  // Prefill / extend chunks; a request whose prompt is done gets its first token and states.
  void Prefill(const std::vector<FunctionalModel::Entry>& prefill,
               const std::vector<int64_t>& ids) {
    const auto out = model_.Extend(prefill);
    for (size_t i = 0; i < prefill.size(); ++i) {
      const int64_t id = ids[i];
      Live& L = live_[static_cast<size_t>(id)];
      L.processed = prefill[i].prefix + static_cast<int64_t>(prefill[i].tokens.size());
      L.hidden.assign(out.hidden[i].end() - H_, out.hidden[i].end());
      if (L.processed == static_cast<int64_t>(reqs_[static_cast<size_t>(id)].prompt.size())) {
        FunctionalRecord& rec = res_.requests[static_cast<size_t>(id)];
        rec.tokens.push_back(out.next[i].back());
        rec.first_logits = out.logits[i];
        rec.ssm_after_prefill = model_.SsmState(Slot(id));
        rec.conv_after_prefill = model_.ConvState(Slot(id));
        rec.ssm_final = rec.ssm_after_prefill;
        rec.states[L.processed] = rec.ssm_after_prefill;
      }
    }
  }

  // One token per request.
  std::vector<int64_t> Decode(const std::vector<FunctionalModel::Entry>& decode,
                              const std::vector<int64_t>& ids) {
    const auto out = model_.Decode(decode);
    std::vector<int64_t> got;
    for (size_t i = 0; i < decode.size(); ++i) {
      const int64_t id = ids[i];
      FunctionalRecord& rec = res_.requests[static_cast<size_t>(id)];
      live_[static_cast<size_t>(id)].processed += 1;
      rec.tokens.push_back(out.next[i][0]);
      rec.ssm_final = model_.SsmState(Slot(id));
      rec.states[live_[static_cast<size_t>(id)].processed] = rec.ssm_final;
      got.push_back(1);
    }
    return got;
  }

  // One MTP round: d-1 draft steps per request, the target verifies t0..t_{d-1}, greedy
  // acceptance, commit of the accepted step's state.
  std::vector<int64_t> MtpRound(std::vector<FunctionalModel::Entry> decode,
                                const std::vector<int64_t>& ids) {
    std::vector<std::vector<int32_t>> drafts(decode.size());
    for (size_t i = 0; i < decode.size(); ++i) {
      Live& L = live_[static_cast<size_t>(ids[i])];
      std::vector<int32_t>& t = drafts[i];
      t.push_back(decode[i].tokens[0]);
      std::vector<double> hid = L.hidden, next_hid;
      model_.TruncateDraft(decode[i].slot, L.draft_len);
      for (int64_t s = 0; s + 1 < dtok_; ++s) {
        t.push_back(model_.Draft(decode[i].slot, t.back(), hid, L.draft_len + s, &next_hid));
        hid = next_hid;
      }
      decode[i].tokens = t;
    }
    const auto out = model_.Decode(decode, true);
    std::vector<int64_t> last, got;
    for (size_t i = 0; i < decode.size(); ++i) {
      const std::vector<int32_t>& t = drafts[i];
      const std::vector<int32_t>& y = out.next[i];
      int64_t j = 0;
      while (j + 1 < dtok_ && t[static_cast<size_t>(j + 1)] == y[static_cast<size_t>(j)]) ++j;
      last.push_back(j);
      const int64_t id = ids[i];
      Live& L = live_[static_cast<size_t>(id)];
      FunctionalRecord& rec = res_.requests[static_cast<size_t>(id)];
      const int64_t left =
          reqs_[static_cast<size_t>(id)].output_len - static_cast<int64_t>(rec.tokens.size());
      for (int64_t k = 0; k <= j && k < left; ++k)
        rec.tokens.push_back(k < j ? t[static_cast<size_t>(k + 1)] : y[static_cast<size_t>(j)]);
      rec.accept_lengths.push_back(j + 1);
      got.push_back(j + 1);
      L.processed += j + 1;
      L.hidden.assign(out.hidden[i].begin() + j * H_, out.hidden[i].begin() + (j + 1) * H_);
      L.draft_len += std::min<int64_t>(j + 1, dtok_ - 1);
    }
    model_.Commit(decode, last);
    for (size_t i = 0; i < decode.size(); ++i) {
      FunctionalRecord& rec = res_.requests[static_cast<size_t>(ids[i])];
      rec.ssm_final = model_.SsmState(decode[i].slot);
      rec.states[live_[static_cast<size_t>(ids[i])].processed] = rec.ssm_final;
    }
    return got;
  }

  FunctionalModel& model_;
  const std::vector<FunctionalRequest>& reqs_;
  FunctionalResult res_;
  std::vector<Live> live_;
  int64_t H_, dtok_;
};

}  // namespace

FunctionalResult RunFunctional(const ModelConfig& m, const DeviceConfig& d,
                               const FunctionalOptions& o, SchedulerConfig sc,
                               const std::vector<FunctionalRequest>& reqs) {
  FunctionalOptions mo = o;
  mo.slots = static_cast<int64_t>(reqs.size()) + 1;
  FunctionalModel model(m, d, mo);
  sc.dp = 1;
  Scheduler sched(sc);
  for (const auto& r : reqs)
    sched.Arrive(r.id, static_cast<int64_t>(r.prompt.size()), r.output_len);
  FunctionalRunner run(model, reqs, m.hidden, o.draft_tokens);
  for (Batch b = sched.Next(); !b.empty(); b = sched.Next()) sched.Complete(b, run.Step(b));
  return run.Finish();
}

FunctionalDiff Compare(const FunctionalResult& a, const FunctionalResult& b) {
  FunctionalDiff d;
  auto maxdiff = [](const std::vector<double>& x, const std::vector<double>& y) {
    double m = 0;
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
      m = std::max(m, std::fabs(x[i] - y[i]));
    return x.size() == y.size() ? m : INFINITY;
  };
  for (size_t r = 0; r < a.requests.size() && r < b.requests.size(); ++r) {
    const FunctionalRecord &x = a.requests[r], &y = b.requests[r];
    d.max_state_diff =
        std::max(d.max_state_diff, maxdiff(x.ssm_after_prefill, y.ssm_after_prefill));
    d.max_conv_diff =
        std::max(d.max_conv_diff, maxdiff(x.conv_after_prefill, y.conv_after_prefill));
    d.max_final_state_diff = std::max(d.max_final_state_diff, maxdiff(x.ssm_final, y.ssm_final));
    for (const auto& [n, st] : x.states) {
      auto it = y.states.find(n);
      if (it == y.states.end()) continue;
      d.max_checkpoint_state_diff = std::max(d.max_checkpoint_state_diff, maxdiff(st, it->second));
      ++d.checkpoints_compared;
    }
    for (size_t i = 0; i < std::min(x.first_logits.size(), y.first_logits.size()); ++i)
      d.max_logit_diff = std::max(
          d.max_logit_diff, static_cast<double>(std::fabs(x.first_logits[i] - y.first_logits[i])));
    for (size_t i = 0; i < std::max(x.tokens.size(), y.tokens.size()); ++i) {
      if (i < x.tokens.size() && i < y.tokens.size() && x.tokens[i] == y.tokens[i]) continue;
      d.tokens_equal = false;
      ++d.requests_diverged;
      if (d.first_divergence_request < 0) {
        d.first_divergence_request = static_cast<int64_t>(r);
        d.first_divergence_token = static_cast<int64_t>(i);
        if (i == 0 && x.first_logits.size() > 1) {
          std::vector<float> l = x.first_logits;
          std::partial_sort(l.begin(), l.begin() + 2, l.end(), std::greater<float>());
          d.divergence_margin = static_cast<double>(l[0] - l[1]);
        }
      }
      break;
    }
  }
  return d;
}

FunctionalStudy RunFunctionalStudy(const ResolvedRun& s,
                                   const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& m) {
    if (progress) progress(m);
  };
  const RunConfig& c = s.run;
  if (s.plan.tp != 1 || s.plan.dp != 1)
    throw InputError(
        c.At("tp_size") +
        ": functional runs simulate one rank: set tp_size 1 (reduced models fit one chip)");
  Rng rng(static_cast<uint64_t>(c.seed) * 0x9E3779B97F4A7C15ULL + 101);
  std::vector<FunctionalRequest> reqs;
  for (const Request& r : s.requests) {
    FunctionalRequest f;
    f.id = static_cast<int64_t>(reqs.size());
    f.output_len = r.output_len;
    for (int64_t t = 0; t < r.input_len; ++t)
      f.prompt.push_back(static_cast<int32_t>(rng.UniformInt(0, s.model.vocab - 1)));
    reqs.push_back(std::move(f));
  }
  SchedulerConfig sc;
  sc.max_running_requests = c.max_running_requests;
  sc.max_prefill_tokens = c.max_prefill_tokens;
  sc.page_size = c.page_size;
  sc.mixed_chunk = false;
  FunctionalOptions clean;
  clean.gdn_impl = c.gdn_decode_impl;
  clean.mla_prolog = c.mla_prolog;
  clean.ssm_dtype = s.ssm_dtype;
  clean.seed = static_cast<uint64_t>(c.seed);
  FunctionalOptions faulty = clean;
  faulty.fault = c.fault == "none" ? "" : c.fault;
  FunctionalStudy st;
  SchedulerConfig whole = sc;
  whole.chunked_prefill_size = 0;
  say("functional run 1/" + std::string(c.Mtp() ? "3" : "2") + ": unchunked reference");
  st.reference = RunFunctional(s.model, s.device, clean, whole, reqs);
  say("functional run 2/" + std::string(c.Mtp() ? "3" : "2") + ": chunked" +
      (faulty.fault.empty() ? "" : ", fault " + faulty.fault));
  SchedulerConfig chunked = sc;
  chunked.chunked_prefill_size = c.chunked_prefill_size;
  st.chunked = RunFunctional(s.model, s.device, faulty, chunked, reqs);
  st.chunked_vs_reference = Compare(st.reference, st.chunked);
  if (c.Mtp()) {
    FunctionalOptions mtp = faulty;
    mtp.draft_tokens = c.speculative_num_draft_tokens;
    st.has_mtp = true;
    say("functional run 3/3: MTP, " + std::to_string(mtp.draft_tokens) + " draft tokens");
    st.mtp = RunFunctional(s.model, s.device, mtp, chunked, reqs);
    st.mtp_vs_chunked = Compare(st.chunked, st.mtp);
    // Conditional acceptance per draft position from the accept lengths (1 + accepted drafts).
    const int64_t d = c.speculative_num_draft_tokens;
    std::vector<int64_t> reached(static_cast<size_t>(d + 1), 0);
    int64_t rounds = 0, tokens = 0;
    for (const auto& r : st.mtp.requests)
      for (int64_t n : r.accept_lengths) {
        ++rounds;
        tokens += n;
        for (int64_t i = 1; i <= n; ++i) ++reached[static_cast<size_t>(i)];
      }
    for (int64_t i = 1; i < d; ++i)
      st.accept_rates.push_back(reached[static_cast<size_t>(i)]
                                    ? static_cast<double>(reached[static_cast<size_t>(i + 1)]) /
                                          static_cast<double>(reached[static_cast<size_t>(i)])
                                    : 0.0);
    st.accept_length = rounds ? static_cast<double>(tokens) / static_cast<double>(rounds) : 0;
  }
  return st;
}

}  // namespace npusim
