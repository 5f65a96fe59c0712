// SystemC model of the chip. SystemC time counts core cycles (1 ns of SystemC time = one cycle
// of the core clock), so all durations are exact integers; reports convert with the clock.
//
// Per core: a scalar thread (the kernel body) that dispatches instructions into per-pipe
// in-order queues and runs ahead in local time (temporal decoupling) until a sync blocks it;
// per pipe: a method process that starts the instruction at the head of its queue when its
// flag dependencies allow, and completes it after the cost model's duration. No clock, no
// per-cycle process: one event per instruction.
#include "devices/chip.h"

#include <algorithm>
#include <array>
#include <deque>
#include <optional>
#include <systemc>
#include <vector>

#include "devices/core_runtime.h"
#include "devices/cost_model.h"
#include "devices/dcache.h"
#include "devices/race_checker.h"
#include "devices/semantics.h"
#include "model/error.h"

namespace npusim {

namespace {

// Read through the inline accessors: the exported sc_time_stamp() is a call per use, several
// per instruction.
inline uint64_t NowCycles() {
  return sc_core::sc_get_curr_simcontext()->time_stamp().value() / 1000;
}
inline sc_core::sc_time Cycles(uint64_t n) { return sc_core::sc_time::from_value(n * 1000); }

struct Aborted {};  // unwinds a scalar thread after another core failed

constexpr int kEventIds = 8;     // hardware event IDs per pipe pair on A2/A3
constexpr int kCrossFlags = 16;  // CrossCoreSetFlag flag ids (0-10 documented; room to spare)
constexpr int kCrossMaxPending = 15;

struct FlagState {
  bool set = false;
  uint64_t set_cycle = 0;
  RaceChecker::Clock clock{};
  uint64_t flow = 0;  // the trace arrow from this SetFlag to its WaitFlag
};

std::string InstrName(const Instr& in) {
  switch (in.op) {
    case Opcode::kVector:
      return VecOpName(in.vec.op);
    case Opcode::kCopy:
      return std::string("DataCopy ") + MtePathName(in.path);
    case Opcode::kLoad2D:
      return "LoadData";
    case Opcode::kMmad:
      return "Mmad";
    case Opcode::kFixpipe:
      return "Fixpipe";
    default:
      return "sync";
  }
}

// What a trace slice shows of an instruction: its size and element type.
std::string InstrArgs(const Instr& in) {
  const std::string dt = "\"dtype\":\"" + std::string(Name(in.dtype)) + "\"";
  switch (in.op) {
    case Opcode::kVector:
      return "\"elements\":" + std::to_string(in.vec.count) + "," + dt;
    case Opcode::kCopy:
      return "\"bytes\":" + std::to_string(in.bytes) +
             ",\"blocks\":" + std::to_string(in.copy.blocks);
    case Opcode::kLoad2D:
      return "\"bytes\":" + std::to_string(in.bytes);
    case Opcode::kMmad:
      return "\"m\":" + std::to_string(in.cube.m) + ",\"k\":" + std::to_string(in.cube.k) +
             ",\"n\":" + std::to_string(in.cube.n) + "," + dt;
    case Opcode::kFixpipe:
      return "\"m\":" + std::to_string(in.cube.m) + ",\"n\":" + std::to_string(in.cube.n) + "," +
             dt;
    default:
      return {};
  }
}

}  // namespace

class CoreModel;

struct Chip::Impl {
  DeviceConfig cfg;
  CostModel cost;
  // The MTE model's choice, read once: copies then hold their pipe for the bytes alone.
  bool mte_overlaps_latency = false;
  std::unique_ptr<MemorySystem> memory;
  std::unique_ptr<LinkNetwork> links;
  TraceRecorder* trace = nullptr;
  std::vector<std::unique_ptr<CoreModel>> aic, aiv;
  // Per launch.
  const KernelLaunch* launch = nullptr;
  int64_t launch_units = 0;  // AICs (or AIVs of an AIV launch) the current launch runs on
  // CrossCoreSetFlag mode 0 (SyncAll): sets of each flag id by [AIV, AIC] in the current round
  int all_core_sets[2][kCrossFlags] = {};
  bool aborted = false;
  std::optional<SimFailure> failure;
  std::optional<InputError> input_failure;
  uint64_t start_cycle = 0;
  uint64_t dcache_miss_cycles = 0;  // scalar stall of a data cache miss (cfg.dcache_miss_ns)
  uint64_t cross_core_cycles = 0;   // cfg.cross_core_latency_ns
  double cube_flops = 0, cube_ideal_cycles = 0, vector_ideal_cycles = 0;
  std::vector<bool> trace_named;
  // Statistics, registered once with unit and description, refilled every launch.
  StatsRegistry stats;
  struct PipeStats {
    Stat* busy;
    Stat* instructions;
  };
  PipeStats pipe_stats[2][kNumPipes] = {};  // [aiv, aic][pipe]
  Stat *stat_cycles = nullptr, *stat_hbm_read = nullptr, *stat_hbm_write = nullptr,
       *stat_dispatched = nullptr;
  Stat* stat_dcache_misses = nullptr;

  explicit Impl(const DeviceConfig& c);
  void RegisterStats();
  void Fail(const SimFailure& e) {
    if (!failure && !input_failure) failure = e;
    aborted = true;
  }
  void FailInput(const InputError& e) {
    if (!failure && !input_failure) input_failure = e;
    aborted = true;
  }
  uint64_t Duration(const Instr& in, uint64_t now);
  void CrossCoreSet(CoreModel* from, const Instr& in);
  // The steps of Chip::Launch.
  std::vector<CoreModel*> AssignBlocks(const KernelLaunch& k, int64_t units);
  void NameTraceThreads(const std::vector<CoreModel*>& used);
  void CheckDeadlock(const KernelLaunch& k, const std::vector<CoreModel*>& used);
  void Unwind(const std::vector<CoreModel*>& used);
  uint64_t Collect(const KernelLaunch& k, const std::vector<CoreModel*>& used, LaunchResult& r);
  void RecordStats(LaunchResult& r);
};

// A pipe's in-order instruction queue: a fixed ring (the hardware queue has a fixed depth), so
// dispatching an instruction never allocates. The ring has one slot more than the queue holds:
// the instruction last popped keeps its slot until the next pop (the pipe executes it from there
// instead of copying it out).
class InstrQueue {
 public:
  void Reserve(size_t capacity) { ring_.assign(capacity + 1, Instr{}); }
  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  Instr& front() { return ring_[head_]; }
  const Instr& front() const { return ring_[head_]; }
  void push_back(const Instr& in) {
    size_t at = head_ + count_++;
    if (at >= ring_.size()) at -= ring_.size();
    ring_[at] = in;  // a vector loop, not `rep movsq` (devices/CMakeLists.txt)
  }
  void pop_front() {
    if (++head_ == ring_.size()) head_ = 0;
    --count_;
  }
  void clear() { head_ = count_ = 0; }

 private:
  std::vector<Instr> ring_;
  size_t head_ = 0, count_ = 0;
};

class PipeModel {
 public:
  void Init(CoreModel* core, Pipe id);
  void Reset() {
    queue.clear();
    busy = false;
    // Waiting on `wake` again: a launch that failed mid-instruction left its pipes awake, and
    // the next launch on this chip deadlocked as no Wake() reached them.
    sleeping = true;
    done_until = 0;
    landing.clear();
    landed = 0;
    busy_cycles = instructions = dispatched = 0;
  }
  void Step();
  enum class SyncStep { kDone, kWait, kNotSync };
  SyncStep StepSync(Instr& in, uint64_t now);
  void Start(Instr& in, uint64_t now);
  void Wake() {
    if (sleeping) {
      sleeping = false;
      wake.notify(sc_core::SC_ZERO_TIME);
    }
  }
  std::string BlockedState() const;

  CoreModel* core = nullptr;
  Pipe id = Pipe::kS;
  InstrQueue queue;
  sc_core::sc_event wake;
  bool sleeping = true;
  bool busy = false;
  uint64_t busy_until = 0;
  // Results land in issue order, `latency_cycles` after a vector instruction's last issue slot:
  // the pipe issues the next independent instruction meanwhile; a dependent one, a barrier or a
  // SetFlag waits until every result has landed (the PipeBarrier<PIPE_V> AscendC's compiler
  // inserts between dependent vector instructions).
  uint64_t done_until = 0;
  struct Landing {
    uint64_t lo, hi, at;  // UB bytes [lo, hi) are written at cycle `at`
  };
  // In landing order: entries before `landed` have landed (dropped in bulk, a deque's per-entry
  // bookkeeping was a visible share of vector-heavy simulations).
  std::vector<Landing> landing;
  size_t landed = 0;
  bool ReadsInFlight(const Instr& in, uint64_t now);
  bool SkipLanded(uint64_t now);  // moves `landed` past what has landed; true when all has
  void Land(const Landing& w, uint64_t now);  // a vector result that lands at w.at
  const Instr* current = nullptr;             // the instruction running, in its popped queue slot
  uint64_t busy_cycles = 0, instructions = 0;
  uint64_t dispatched = 0;  // every instruction through the queue, sync ones included
};

class CoreModel : public CoreRuntime {
 public:
  CoreModel(Chip::Impl* chip, CoreType type, int index, int trace_pid)
      : chip_(chip), type_(type), index_(index), trace_pid_(trace_pid) {
    dcache_.Configure(chip->cfg.dcache_bytes, chip->cfg.dcache_line_bytes, chip->cfg.dcache_ways);
    for (int p = 0; p < kNumPipes; ++p) {
      pipes_[p].Init(this, static_cast<Pipe>(p));
      pipe_on_[p] = PipeOn(static_cast<Pipe>(p), type_);
    }
    // The scalar unit's thread lives as long as the chip and runs one launch's blocks each time
    // `launch_` fires: a thread spawned per launch cost a fresh coroutine stack (mapped, faulted
    // in and unmapped) for every core of every launch.
    sc_core::sc_spawn_options opts;
    opts.dont_initialize();
    opts.set_sensitivity(&launch_);
    sc_core::sc_spawn(
        [this] {
          for (;;) {
            RunBlocks();
            sc_core::wait();  // for the next launch
          }
        },
        sc_core::sc_gen_unique_name("scalar"), &opts);
  }

  // --- CoreRuntime ---
  CoreType type() const override { return type_; }
  std::string name() const override {
    return std::string(CoreTypeName(type_)) + std::to_string(index_);
  }
  int64_t block_idx() const override { return block_idx_; }
  int64_t block_num() const override { return block_num_; }
  int sub_block_idx() const override { return sub_block_; }
  bool functional() const override { return chip_->launch->functional; }
  const DeviceConfig& config() const override { return chip_->cfg; }

  void RequirePipe(Pipe p) const {
    if (!pipe_on_[static_cast<int>(p)]) NoPipe(p);
  }
  [[noreturn]] __attribute__((noinline)) void NoPipe(Pipe p) const {
    throw SimFailure("invalid_instruction",
                     std::string("pipe ") + PipeName(p) + " does not exist on " +
                         CoreTypeName(type_) + " core " + name() + " (AIC has " +
                         PipesOf(CoreType::kAic) + ", AIV has " + PipesOf(CoreType::kAiv) + ")");
  }

  void Issue(Instr& in) override {
    RequirePipe(in.pipe);
    if (in.op == Opcode::kSetFlag) RequirePipe(in.sync.dst);
    if (in.op == Opcode::kWaitFlag) RequirePipe(in.sync.src);
    PipeModel& p = pipes_[static_cast<int>(in.pipe)];
    if (p.queue.size() >= static_cast<size_t>(chip_->cfg.queue_depth)) {
      wait_pipe_ = in.pipe;
      ScalarWait(WaitKind::kQueueSpace);
    }
    scalar_time_ =
        std::max(scalar_time_, NowCycles()) + static_cast<uint64_t>(chip_->cfg.scalar_issue_cycles);
    in.issue_cycle = scalar_time_;
    in.scalar_seq = race_.Count(Pipe::kS);
    p.queue.push_back(in);
    ++p.dispatched;
    p.Wake();
  }

  void ScalarSetFlag(Pipe dst, int id) override {
    RequirePipe(dst);
    scalar_time_ = std::max(scalar_time_, NowCycles());
    SetFlag(Pipe::kS, dst, id, scalar_time_);
  }

  void ScalarWaitFlag(Pipe src, int id) override {
    RequirePipe(src);
    CheckEventId(id);
    wait_pipe_ = src;
    wait_id_ = id;
    ScalarWait(WaitKind::kFlag);
    FlagState& f = flags_[static_cast<int>(src)][static_cast<int>(Pipe::kS)][id];
    race_.Join(Pipe::kS, f.clock);
    f.set = false;
    scalar_time_ = std::max(scalar_time_, f.set_cycle);
    TraceFlag(false, src, Pipe::kS, id, scalar_time_, f);
  }

  void BarrierAll() override {
    ScalarWait(WaitKind::kDrain);
    race_.JoinAll();
  }

  void CrossCoreWait(int id) override {
    if (id < 0 || id >= kCrossFlags)
      throw SimFailure("sync_error",
                       "CrossCoreWaitFlag id " + std::to_string(id) + " out of range [0, 15]");
    wait_id_ = id;
    ScalarWait(WaitKind::kCross);
    // The signal reaches this core cross_core_cycles after its set (the last of an AIC's two).
    uint64_t arrives = TakeCrossSet(0, id);
    if (type_ == CoreType::kAic) arrives = std::max(arrives, TakeCrossSet(1, id));
    if (chip_->cross_core_cycles > 0)
      scalar_time_ = std::max(scalar_time_, arrives + chip_->cross_core_cycles);
  }

  void ScalarCycles(uint64_t cycles) override {
    scalar_time_ = std::max(scalar_time_, NowCycles()) + cycles;
  }

  void ScalarGmAccess(uint64_t addr) override {
    const bool hit = dcache_.Access(addr);
    ScalarCycles(hit ? 1 : chip_->dcache_miss_cycles);
  }
  uint64_t dcache_misses() const { return dcache_.misses(); }

  void ScalarAccess(int region, bool write, const char* what) override {
    race_.Start(Pipe::kS);
    auto race = write ? race_.Write(Pipe::kS, region, what) : race_.Read(Pipe::kS, region, what);
    if (race) throw SimFailure("race", name() + ": " + *race);
  }

  uint8_t* LocalBase(Mem m) override {
    if (!functional()) return nullptr;
    auto& buf = local_[static_cast<int>(m)];
    if (buf.empty()) buf.assign(Capacity(m), 0);
    return buf.data();
  }

  uint64_t Capacity(Mem m) const override {
    const auto& c = chip_->cfg;
    switch (m) {
      case Mem::kUb:
        return static_cast<uint64_t>(c.ub_bytes);
      case Mem::kL1:
        return static_cast<uint64_t>(c.l1_bytes);
      case Mem::kL0A:
        return static_cast<uint64_t>(c.l0a_bytes);
      case Mem::kL0B:
        return static_cast<uint64_t>(c.l0b_bytes);
      case Mem::kL0C:
        return static_cast<uint64_t>(c.l0c_bytes);
      default:
        return 0;
    }
  }
  uint64_t Alignment(Mem m) const override {
    const auto& c = chip_->cfg;
    switch (m) {
      case Mem::kUb:
        return static_cast<uint64_t>(c.ub_align);
      case Mem::kL1:
        return static_cast<uint64_t>(c.l1_align);
      case Mem::kL0A:
        return static_cast<uint64_t>(c.l0a_align);
      case Mem::kL0B:
        return static_cast<uint64_t>(c.l0b_align);
      case Mem::kL0C:
        return static_cast<uint64_t>(c.l0c_align);
      default:
        return 1;
    }
  }

  uint64_t Allocate(Mem m, const std::string& what, uint64_t bytes_each, int num) override {
    if (m == Mem::kUb && type_ != CoreType::kAiv)
      throw SimFailure("invalid_instruction",
                       name() + ": UB does not exist on an AIC core (use L1/L0 positions)");
    if (m != Mem::kUb && type_ == CoreType::kAiv)
      throw SimFailure(
          "invalid_instruction",
          name() + ": " + MemName(m) + " does not exist on an AIV core (use VECIN/VECOUT/VECCALC)");
    auto& allocs = allocs_[static_cast<int>(m)];
    uint64_t used =
        allocs.empty() ? 0 : allocs.back().offset + allocs.back().bytes_each * allocs.back().num;
    uint64_t total = bytes_each * static_cast<uint64_t>(num);
    uint64_t cap = Capacity(m);
    if (used + total > cap) {
      std::string msg =
          std::string(MemLowerName(m)) + " overflow, requires " +
          std::to_string((used + total) * 8) + " bits while " + std::to_string(cap * 8) +
          " bits available! (possible reason: tiling basic block is too large or block number is "
          "more "
          "than what user expect due to multi-buffer feature is enabled and some ops need extra "
          "local "
          "buffer.)\n  live " +
          MemName(m) + " allocations on " + name() + ", block " + std::to_string(block_idx_) + ":";
      allocs.push_back({what, used, bytes_each, num});
      for (const auto& a : allocs)
        msg += "\n    " + a.name + ": " + std::to_string(a.bytes_each) + " B x " +
               std::to_string(a.num) + (a.num == 1 ? " buffer" : " buffers") + " = " +
               std::to_string(a.bytes_each * a.num * 8) + " bits";
      allocs.pop_back();
      throw SimFailure(std::string(MemLowerName(m)) + "_overflow", msg);
    }
    allocs.push_back({what, used, bytes_each, num});
    peak_[static_cast<int>(m)] = std::max(peak_[static_cast<int>(m)], used + total);
    return used;
  }

  void Release(Mem m, uint64_t offset) override {
    auto& allocs = allocs_[static_cast<int>(m)];
    while (!allocs.empty() && allocs.back().offset >= offset) allocs.pop_back();
  }

  int AddRegion(std::string n) override { return race_.AddRegion(name() + " " + n); }

  // --- used by pipes and the chip ---
  void SetFlag(Pipe src, Pipe dst, int id, uint64_t at) {
    CheckEventId(id);
    FlagState& f = flags_[static_cast<int>(src)][static_cast<int>(dst)][id];
    if (f.set)
      throw SimFailure("sync_error", name() + ": SetFlag " + PipeName(src) + "->" + PipeName(dst) +
                                         " event " + std::to_string(id) +
                                         " set twice without a WaitFlag in between");
    f.set = true;
    f.set_cycle = at;
    f.clock = race_.Snapshot(src);
    TraceFlag(true, src, dst, id, at, f);
    if (dst == Pipe::kS)
      NotifyScalar();
    else
      pipes_[static_cast<int>(dst)].Wake();
  }
  FlagState& Flag(Pipe src, Pipe dst, int id) {
    return flags_[static_cast<int>(src)][static_cast<int>(dst)][id];
  }
  // A SetFlag (on its setting pipe's track) or a WaitFlag passing (on the waiter's), as an instant
  // slice, joined by an arrow.
  void TraceFlag(bool set, Pipe src, Pipe dst, int id, uint64_t at, FlagState& f) {
    TraceRecorder* trace = chip_->trace;
    if (!trace) return;
    const double t = chip_->cfg.CyclesToUs(static_cast<double>(at));
    const int tid = static_cast<int>(set ? src : dst);
    trace->Slice(trace_pid_, tid,
                 std::string(set ? "SetFlag " : "WaitFlag ") + PipeName(src) + "->" + PipeName(dst),
                 t, 0, "\"event\":" + std::to_string(id));
    if (set) {
      f.flow = trace->FlowStart(trace_pid_, tid, t);
    } else {
      trace->FlowEnd(f.flow, trace_pid_, tid, t);
      f.flow = 0;
    }
  }
  void CrossSignal(int slot, int id) {
    if (++cross_[slot][id] > kCrossMaxPending)
      throw SimFailure(
          "sync_error",
          name() + ": CrossCoreSetFlag id " + std::to_string(id) +
              " set more than 15 times without a CrossCoreWaitFlag: the core would hang");
    CrossSets& q = cross_sets_[slot][id];
    q.at[(q.head + static_cast<size_t>(cross_[slot][id]) - 1) % q.at.size()] = NowCycles();
    NotifyScalar();
  }
  // The cycle of the oldest pending set of flag `id` from `slot`, consumed.
  uint64_t TakeCrossSet(int slot, int id) {
    CrossSets& q = cross_sets_[slot][id];
    const uint64_t at = q.at[q.head];
    q.head = (q.head + 1) % q.at.size();
    --cross_[slot][id];
    return at;
  }

  void NotifyScalar() {
    if (scalar_waiting_ && ScalarReady()) scalar_wake_.notify(sc_core::SC_ZERO_TIME);
  }

  void BeginLaunch(std::vector<int64_t> blocks, int64_t block_num, int sub_block) {
    blocks_ = std::move(blocks);
    block_num_ = block_num;
    sub_block_ = sub_block;
    for (auto& p : pipes_) p.Reset();
    for (auto& a : allocs_) a.clear();
    peak_ = {};
    running_ = true;
    scalar_waiting_ = false;
    wait_kind_ = WaitKind::kNone;
    scalar_time_ = chip_->start_cycle;  // forget local time left over by an aborted launch
    end_cycle_ = 0;
    dcache_.Reset();
  }

  void RunBlocks() {
    SetCurrentCore(this);
    try {
      for (int64_t b : blocks_) {
        block_idx_ = b;
        race_.Reset();
        for (auto& a : flags_)
          for (auto& bb : a)
            for (auto& f : bb) f = FlagState{};
        for (auto& c : cross_) std::fill(std::begin(c), std::end(c), 0);
        for (auto& c : cross_sets_) std::fill(std::begin(c), std::end(c), CrossSets{});
        chip_->launch->body();
        ScalarWait(WaitKind::kDrain);  // a block ends when every pipe has drained
      }
      end_cycle_ = std::max(scalar_time_, NowCycles());
      running_ = false;
    } catch (const Aborted&) {
    } catch (const SimFailure& e) {
      chip_->Fail(e);
    } catch (const InputError& e) {
      chip_->FailInput(e);
    } catch (const std::exception& e) {
      chip_->Fail(SimFailure("internal_error", name() + ": " + e.what()));
    }
    SetCurrentCore(nullptr);
  }

  // The scalar thread starts this launch's blocks (in the next delta cycle).
  void StartLaunch() { launch_.notify(sc_core::SC_ZERO_TIME); }

  void WakeForAbort() {
    if (scalar_waiting_) scalar_wake_.notify(sc_core::SC_ZERO_TIME);
  }

  std::string BlockedState() const {
    std::string s = name() + " (block " + std::to_string(block_idx_) + "): scalar ";
    switch (wait_kind_) {
      case WaitKind::kQueueSpace:
        s += std::string("waits for space in the full ") + PipeName(wait_pipe_) + " queue";
        break;
      case WaitKind::kDrain:
        s += "waits for all pipes to drain";
        break;
      case WaitKind::kFlag:
        s += std::string("waits at WaitFlag ") + PipeName(wait_pipe_) + "->S event " +
             std::to_string(wait_id_);
        break;
      case WaitKind::kCross:
        s += "waits at CrossCoreWaitFlag id " + std::to_string(wait_id_) + " (never set)";
        break;
      default:
        s += "is not blocked";
        break;
    }
    for (const auto& p : pipes_) {
      std::string b = p.BlockedState();
      if (!b.empty()) s += "; " + b;
    }
    return s;
  }

  bool running() const { return running_; }
  uint64_t end_cycle() const { return end_cycle_; }
  const PipeModel& pipe(int i) const { return pipes_[i]; }
  const std::array<uint64_t, kNumMems>& peak() const { return peak_; }
  RaceChecker& race() { return race_; }
  Chip::Impl* chip() { return chip_; }
  int trace_pid() const { return trace_pid_; }
  int index() const { return index_; }

 private:
  enum class WaitKind { kNone, kQueueSpace, kDrain, kFlag, kCross };
  struct Alloc {
    std::string name;
    uint64_t offset, bytes_each;
    int num;
  };

  void CheckEventId(int id) const {
    if (id < 0 || id >= kEventIds)
      throw SimFailure("sync_error",
                       name() + ": event id " + std::to_string(id) + " out of range [0, 7]");
  }

  bool ScalarReady() const {
    switch (wait_kind_) {
      case WaitKind::kQueueSpace:
        return pipes_[static_cast<int>(wait_pipe_)].queue.size() <=
               static_cast<size_t>(chip_->cfg.queue_depth) / 2;
      case WaitKind::kDrain:
        for (const auto& p : pipes_)
          if (p.busy || !p.queue.empty()) return false;
        return true;
      case WaitKind::kFlag:
        return flags_[static_cast<int>(wait_pipe_)][static_cast<int>(Pipe::kS)][wait_id_].set;
      case WaitKind::kCross:
        if (type_ == CoreType::kAic) return cross_[0][wait_id_] > 0 && cross_[1][wait_id_] > 0;
        return cross_[0][wait_id_] > 0;
      default:
        return true;
    }
  }

  void ScalarWait(WaitKind kind) {
    wait_kind_ = kind;
    while (!ScalarReady()) {
      scalar_waiting_ = true;
      sc_core::wait(scalar_wake_);
      scalar_waiting_ = false;
      SetCurrentCore(this);
      if (chip_->aborted) throw Aborted{};
    }
    wait_kind_ = WaitKind::kNone;
    if (kind == WaitKind::kDrain) {  // the pipes are idle; their last results are still landing
      uint64_t landed = 0;
      for (const auto& p : pipes_) landed = std::max(landed, p.done_until);
      if (landed > NowCycles()) {
        sc_core::wait(Cycles(landed - NowCycles()));
        SetCurrentCore(this);
        if (chip_->aborted) throw Aborted{};
      }
    }
    scalar_time_ = std::max(scalar_time_, NowCycles());
  }

  Chip::Impl* chip_;
  CoreType type_;
  bool pipe_on_[kNumPipes] = {};  // PipeOn(p, type_), looked up once
  int index_;
  int trace_pid_;
  PipeModel pipes_[kNumPipes];
  sc_core::sc_event scalar_wake_;
  sc_core::sc_event launch_;
  bool scalar_waiting_ = false;
  WaitKind wait_kind_ = WaitKind::kNone;
  Pipe wait_pipe_ = Pipe::kS;
  int wait_id_ = 0;
  uint64_t scalar_time_ = 0;
  ScalarDataCache dcache_;
  FlagState flags_[kNumPipes][kNumPipes][kEventIds];
  int cross_[2][kCrossFlags] = {};  // AIV: [0] = pending sets; AIC: [sub] = sets from each AIV
  struct CrossSets {                // when each pending set of cross_ was made, oldest first
    std::array<uint64_t, kCrossMaxPending + 1> at{};
    size_t head = 0;
  };
  CrossSets cross_sets_[2][kCrossFlags];
  RaceChecker race_;
  std::array<std::vector<uint8_t>, kNumMems> local_;
  std::array<std::vector<Alloc>, kNumMems> allocs_;
  std::array<uint64_t, kNumMems> peak_{};
  std::vector<int64_t> blocks_;
  int64_t block_idx_ = 0, block_num_ = 1;
  int sub_block_ = 0;
  bool running_ = false;
  uint64_t end_cycle_ = 0;
};

void PipeModel::Init(CoreModel* c, Pipe p) {
  core = c;
  id = p;
  queue.Reserve(static_cast<size_t>(c->config().queue_depth));
  if (p == Pipe::kS) return;  // scalar work runs in the scalar thread itself
  sc_core::sc_spawn_options opts;
  opts.spawn_method();
  opts.dont_initialize();
  opts.set_sensitivity(&wake);
  sc_core::sc_spawn([this] { Step(); }, sc_core::sc_gen_unique_name("pipe"), &opts);
}

std::string PipeModel::BlockedState() const {
  if (queue.empty()) return "";
  const Instr& in = queue.front();
  std::string s = std::string("pipe ") + PipeName(id) + " ";
  if (in.op == Opcode::kWaitFlag)
    return s + "blocked at WaitFlag " + PipeName(in.sync.src) + "->" + PipeName(id) + " event " +
           std::to_string(in.sync.id) + " (never set)";
  return s + "holds " + std::to_string(queue.size()) + " queued instructions";
}

// Does `in` read UB bytes an earlier vector instruction has not written yet?
bool PipeModel::ReadsInFlight(const Instr& in, uint64_t now) {
  if (SkipLanded(now)) return false;
  for (const BufferRef* r : {&in.src0, &in.src1, &in.src2}) {
    if (r->mem != Mem::kUb || r->region < 0) continue;
    for (size_t i = landed; i < landing.size(); ++i) {
      const Landing& w = landing[i];
      if (r->addr < w.hi && w.lo < r->addr + in.vec.src_bytes) return true;
    }
  }
  return false;
}

bool PipeModel::SkipLanded(uint64_t now) {
  while (landed < landing.size() && landing[landed].at <= now) ++landed;
  return landed == landing.size();
}

void PipeModel::Land(const Landing& w, uint64_t now) {
  if (SkipLanded(now) || (landed >= 64 && 2 * landed >= landing.size())) {
    landing.erase(landing.begin(), landing.begin() + static_cast<std::ptrdiff_t>(landed));
    landed = 0;
  }
  landing.push_back(w);
}

// A sync instruction at the queue's head (WaitFlag, SetFlag, CrossCoreSetFlag, PipeBarrier):
// kDone when it completed and left the queue, kWait when the pipe must wait (its trigger or
// sleep is set), kNotSync for a real instruction.
PipeModel::SyncStep PipeModel::StepSync(Instr& in, uint64_t now) {
  Chip::Impl* chip = core->chip();
  switch (in.op) {
    case Opcode::kWaitFlag: {
      FlagState& f = core->Flag(in.sync.src, id, in.sync.id);
      if (!f.set) {
        sleeping = true;
        return SyncStep::kWait;
      }
      if (f.set_cycle > now) {
        sc_core::next_trigger(Cycles(f.set_cycle - now));
        return SyncStep::kWait;
      }
      core->race().Join(id, f.clock);
      f.set = false;
      core->TraceFlag(false, in.sync.src, id, in.sync.id, now, f);
      break;
    }
    case Opcode::kSetFlag:
      core->SetFlag(id, in.sync.dst, in.sync.id, now);
      break;
    case Opcode::kCrossCoreSet:
      chip->CrossCoreSet(core, in);
      break;
    case Opcode::kBarrier:  // every result has landed (Step waited for that)
      queue.pop_front();
      return SyncStep::kDone;
    default:
      return SyncStep::kNotSync;
  }
  queue.pop_front();
  core->NotifyScalar();
  return SyncStep::kDone;
}

// A real instruction: checked for races against the other pipes, timed, traced, started.
void PipeModel::Start(Instr& in, uint64_t now) {
  Chip::Impl* chip = core->chip();
  RaceChecker& race = core->race();
  race.Start(id);
  race.IssuedAfterScalar(id, in.scalar_seq);
  const char* what = in.op == Opcode::kVector ? VecOpName(in.vec.op)
                     : in.op == Opcode::kCopy ? MtePathName(in.path)
                                              : "cube";
  for (const BufferRef* r : {&in.src0, &in.src1, &in.src2})
    if (auto msg = race.Read(id, r->region, what))
      throw SimFailure("race", core->name() + ": " + *msg);
  if (auto msg = race.Write(id, in.dst.region, what))
    throw SimFailure("race", core->name() + ": " + *msg);
  uint64_t duration = chip->Duration(in, now);
  if (chip->mte_overlaps_latency && (in.op == Opcode::kCopy || in.op == Opcode::kFixpipe) &&
      duration > 1) {
    // The bytes hold the pipe; the data lands the path's latency later, which is what a flag,
    // barrier or the block's drain waits for (done_until), as for a vector result.
    done_until = std::max(done_until, now + duration);
    duration -= std::min(duration - 1, chip->cost.PathLatency(in.path));
  }
  busy = true;
  busy_until = now + duration;
  if (in.op == Opcode::kVector) {  // other pipes' durations include their latency
    done_until = std::max(
        done_until,
        busy_until + static_cast<uint64_t>(
                         chip->cfg.vec[static_cast<int>(ClassOf(in.vec.op))].latency_cycles));
    Land({in.dst.addr, in.dst.addr + in.vec.dst_bytes, done_until}, now);
  }
  busy_cycles += duration;
  ++instructions;
  if (chip->trace)
    chip->trace->Slice(core->trace_pid(), static_cast<int>(id), InstrName(in),
                       chip->cfg.CyclesToUs(static_cast<double>(now)),
                       chip->cfg.CyclesToUs(static_cast<double>(duration)), InstrArgs(in));
  current = &in;
  queue.pop_front();
  core->NotifyScalar();
  sc_core::next_trigger(Cycles(duration));
}

void PipeModel::Step() {
  Chip::Impl* chip = core->chip();
  if (chip->aborted) return;
  try {
    const uint64_t now = NowCycles();
    if (busy) {
      if (now < busy_until) {
        sc_core::next_trigger(Cycles(busy_until - now));
        return;
      }
      busy = false;
      if (chip->launch->functional) Execute(*current);
    }
    while (!queue.empty()) {
      Instr& in = queue.front();
      if (in.issue_cycle > now) {
        sc_core::next_trigger(Cycles(in.issue_cycle - now));
        return;
      }
      if (done_until > now &&
          (in.op == Opcode::kSetFlag || in.op == Opcode::kCrossCoreSet ||
           in.op == Opcode::kBarrier || (in.op == Opcode::kVector && ReadsInFlight(in, now)))) {
        sc_core::next_trigger(Cycles(done_until - now));
        return;
      }
      const SyncStep sync = StepSync(in, now);
      if (sync == SyncStep::kWait) return;
      if (sync == SyncStep::kDone) continue;
      Start(in, now);
      return;
    }
    sleeping = true;
    core->NotifyScalar();
  } catch (const SimFailure& e) {
    chip->Fail(e);
  }
}

Chip::Impl::Impl(const DeviceConfig& c)
    : cfg(c),
      cost(cfg),
      memory(TimingImpls<MemorySystem>::Make(cfg.memory_impl, cfg)),
      links(TimingImpls<LinkNetwork>::Make(cfg.link_impl, cfg)) {
  dcache_miss_cycles = cfg.NsToCycles(cfg.dcache_miss_ns);
  cross_core_cycles = cfg.NsToCycles(cfg.cross_core_latency_ns);
  mte_overlaps_latency = cost.MteOverlapsLatency();
  for (int i = 0; i < cfg.aic_count; ++i)
    aic.push_back(std::make_unique<CoreModel>(this, CoreType::kAic, i, i));
  for (int i = 0; i < cfg.aiv_count; ++i)
    aiv.push_back(
        std::make_unique<CoreModel>(this, CoreType::kAiv, i, static_cast<int>(cfg.aic_count) + i));
  trace_named.assign(aic.size() + aiv.size(), false);
  RegisterStats();
}

void Chip::Impl::RegisterStats() {
  stat_cycles = &stats.Register("launch.cycles", "cycles",
                                "launch to last block done, incl. launch overhead");
  stat_dispatched = &stats.Register("launch.dispatched_instructions", "instructions",
                                    "instructions dispatched to pipe queues");
  stat_hbm_read = &stats.Register("hbm.read_bytes", "B", "bytes read from GM by all cores");
  stat_dcache_misses = &stats.Register("scalar.dcache_misses", "lines",
                                       "scalar GM accesses that missed the data cache, all cores");
  stat_hbm_write = &stats.Register("hbm.write_bytes", "B", "bytes written to GM by all cores");
  for (int side = 0; side < 2; ++side) {
    const char* type = side == 0 ? "aiv" : "aic";
    for (int p = 0; p < kNumPipes; ++p) {
      if (!SpecOf(static_cast<Pipe>(p)).queued) continue;
      const std::string base = std::string(type) + "." + PipeName(static_cast<Pipe>(p));
      pipe_stats[side][p].busy = &stats.Register(base + ".busy_cycles", "cycles",
                                                 "busy cycles summed over the cores that ran");
      pipe_stats[side][p].instructions = &stats.Register(
          base + ".instructions", "instructions", "copy, vector and cube instructions executed");
    }
  }
}

uint64_t Chip::Impl::Duration(const Instr& in, uint64_t now) {
  if (in.op == Opcode::kVector)
    vector_ideal_cycles += cost.VectorIdealCycles(ClassOf(in.vec.op), in.bytes, SizeOf(in.dtype));
  if (in.op == Opcode::kMmad) {
    cube_flops += 2.0 * in.cube.m * in.cube.k * in.cube.n;
    cube_ideal_cycles += cost.CubeIdealCycles(in.cube.m, in.cube.k, in.cube.n, in.dtype);
  }
  if (in.op == Opcode::kCopy && in.path == MtePath::kRemoteToUb)
    return links->Transfer(now, in.copy.self_rank, in.copy.peer, in.bytes,
                           cost.PathCycles(in.path, in.bytes), cost.PathLatency(in.path)) -
           now;
  if ((in.op == Opcode::kCopy || in.op == Opcode::kFixpipe) && CostModel::TouchesGm(in.path)) {
    const bool write = CostModel::WritesGm(in.path);
    GmSpan span;
    if (in.op == Opcode::kFixpipe) {
      const uint64_t so = SizeOf(in.dtype_out);
      span = {in.dst.addr, in.cube.m, uint64_t{in.cube.n} * so, uint64_t{in.cube.dst_stride} * so};
    } else {
      span = {write ? in.dst.addr : in.src0.addr, in.copy.blocks, in.copy.block_bytes,
              write ? in.copy.dst_stride : in.copy.src_stride};
    }
    uint64_t end = memory->Transfer(now, span, in.bytes, cost.PathCycles(in.path, in.bytes),
                                    cost.PathLatency(in.path), write);
    return end - now;
  }
  return cost.LocalCycles(in);
}

void Chip::Impl::CrossCoreSet(CoreModel* from, const Instr& in) {
  // Groups: in a mixed launch, AIC u pairs with AIV 2u and 2u+1.
  const int id = in.sync.id;
  const std::string who = from->name();
  const int idx = from->index();
  if (in.sync.cross_mode == 2) {
    if (launch->core_type != CoreType::kMix)
      throw SimFailure("sync_error",
                       who + ": CrossCoreSetFlag mode 2 (AIC<->AIV) needs a mixed (1:2) launch");
    if (from->type() == CoreType::kAic) {
      aiv[2 * idx]->CrossSignal(0, id);
      aiv[2 * idx + 1]->CrossSignal(0, id);
    } else {
      aic[idx / 2]->CrossSignal(idx % 2, id);
    }
  } else if (in.sync.cross_mode == 1) {
    if (from->type() != CoreType::kAiv)
      throw SimFailure(
          "sync_error",
          who + ": CrossCoreSetFlag mode 1 syncs the two AIVs of a group; issued on an AIC");
    aiv[idx ^ 1]->CrossSignal(0, id);
  } else {
    // Mode 0: a barrier of every core of the sender's type in the launch. The round completes
    // when the last one sets the flag; then every such core's wait is released. It needs every
    // block resident at once: a second wave's blocks would never arrive (the real kernel hangs).
    if (launch->block_dim > launch_units)
      throw SimFailure("sync_error",
                       who + ": CrossCoreSetFlag mode 0 (all-core barrier) in a launch of " +
                           std::to_string(launch->block_dim) + " blocks on " +
                           std::to_string(launch_units) +
                           " cores: the blocks of the second wave never reach the barrier and the "
                           "first wave hangs");
    const bool cube = from->type() == CoreType::kAic;
    const int64_t n = cube || launch->core_type == CoreType::kAiv ? launch_units : 2 * launch_units;
    int& sets = all_core_sets[cube ? 1 : 0][id];
    if (++sets < n) return;
    sets = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (cube) {
        aic[static_cast<size_t>(i)]->CrossSignal(
            0, id);  // an AIC's wait takes a set from each of its two slots
        aic[static_cast<size_t>(i)]->CrossSignal(1, id);
      } else {
        aiv[static_cast<size_t>(i)]->CrossSignal(0, id);
      }
    }
  }
}

Chip::Chip(const DeviceConfig& cfg, TraceRecorder* trace) : impl_(std::make_unique<Impl>(cfg)) {
  impl_->trace = trace;
  // An sc_start() with nothing left to do is expected (unwinding after a failure).
  sc_core::sc_report_handler::set_actions(sc_core::SC_ID_NO_SC_START_ACTIVITY_,
                                          sc_core::SC_DO_NOTHING);
}

// SystemC cannot remove processes once spawned, and this chip's pipe processes refer to it:
// the implementation lives until the process exits.
Chip::~Chip() { impl_.release(); }

const DeviceConfig& Chip::config() const { return impl_->cfg; }
void Chip::SetTrace(TraceRecorder* trace) { impl_->trace = trace; }

// Block b of a launch runs on unit b mod units (a unit is an AIV, an AIC, or an AIC with its
// two AIVs in a mixed launch); returns the cores used, each unit's cores together.
std::vector<CoreModel*> Chip::Impl::AssignBlocks(const KernelLaunch& k, int64_t units) {
  std::vector<CoreModel*> used;
  for (int64_t u = 0; u < units; ++u) {
    std::vector<int64_t> blocks;
    for (int64_t b = u; b < k.block_dim; b += units) blocks.push_back(b);
    auto begin = [&](CoreModel* c, std::vector<int64_t> bl, int64_t num, int sub) {
      c->BeginLaunch(std::move(bl), num, sub);
      used.push_back(c);
    };
    if (k.core_type == CoreType::kAiv) {
      begin(aiv[u].get(), blocks, k.block_dim, 0);
    } else if (k.core_type == CoreType::kAic) {
      begin(aic[u].get(), blocks, k.block_dim, 0);
    } else {
      begin(aic[u].get(), blocks, k.block_dim, 0);
      for (int sub = 0; sub < 2; ++sub) {
        std::vector<int64_t> vb;
        for (int64_t b : blocks) vb.push_back(2 * b + sub);
        begin(aiv[2 * u + sub].get(), vb, 2 * k.block_dim, sub);
      }
    }
  }
  return used;
}

void Chip::Impl::NameTraceThreads(const std::vector<CoreModel*>& used) {
  for (CoreModel* c : used) {
    if (trace_named[c->trace_pid()]) continue;
    trace_named[c->trace_pid()] = true;
    trace->NameProcess(c->trace_pid(), c->name(), c->trace_pid());
    for (int p = 0; p < kNumPipes; ++p)
      if (PipeOn(static_cast<Pipe>(p), c->type()))  // S: the scalar's SetFlag / WaitFlag points
        trace->NameThread(c->trace_pid(), p, PipeName(static_cast<Pipe>(p)));
  }
}

// After the simulation drained: a core still running is a deadlock (recorded as the failure).
void Chip::Impl::CheckDeadlock(const KernelLaunch& k, const std::vector<CoreModel*>& used) {
  if (failure || input_failure) return;
  std::string blocked;
  for (CoreModel* c : used)
    if (c->running()) blocked += "\n  " + c->BlockedState();
  if (!blocked.empty())
    failure = SimFailure("deadlock", "deadlock: kernel '" + k.name +
                                         "' drained the simulation with blocked pipes:" + blocked);
}

// A failed launch: every blocked scalar thread unwinds, so the chip is ready for the next one.
void Chip::Impl::Unwind(const std::vector<CoreModel*>& used) {
  aborted = true;
  for (CoreModel* c : used) c->WakeForAbort();
  sc_core::sc_start();
  launch = nullptr;
}

// The launch's figures from the cores that ran it and the shared memory and links; returns the
// cycle its last core finished.
uint64_t Chip::Impl::Collect(const KernelLaunch& k, const std::vector<CoreModel*>& used,
                             LaunchResult& r) {
  uint64_t end = start_cycle;
  const size_t per_unit =
      k.core_type == CoreType::kMix ? 3 : 1;  // `used` lists each unit's cores together
  r.unit_cycles.assign(used.size() / per_unit, 0);
  for (size_t i = 0; i < used.size(); ++i)
    r.unit_cycles[i / per_unit] =
        std::max(r.unit_cycles[i / per_unit],
                 used[i]->end_cycle() - std::min(used[i]->end_cycle(), start_cycle));
  for (CoreModel* c : used) {
    end = std::max(end, c->end_cycle());
    auto& usage = c->type() == CoreType::kAiv ? r.aiv : r.aic;
    for (int p = 0; p < kNumPipes; ++p) {
      usage[p].busy_cycles += c->pipe(p).busy_cycles;
      usage[p].instructions += c->pipe(p).instructions;
      usage[p].cores += 1;
      r.instructions += c->pipe(p).instructions;
      r.dispatched_instructions += c->pipe(p).dispatched;
    }
    for (int m = 0; m < kNumMems; ++m) r.peak_bytes[m] = std::max(r.peak_bytes[m], c->peak()[m]);
    r.dcache_misses += c->dcache_misses();
  }
  r.hbm_read_bytes = memory->read_bytes();
  r.hbm_write_bytes = memory->write_bytes();
  r.l2_hit_bytes = memory->l2_hit_bytes();
  r.link_bytes = links->bytes();
  r.link_pair_bytes = links->pair_bytes();
  r.link_max_peer_bytes = links->max_peer_bytes();
  r.cube_flops = cube_flops;
  r.cube_ideal_cycles = cube_ideal_cycles;
  r.vector_ideal_cycles = vector_ideal_cycles;
  return end;
}

// The registered statistics refilled with this launch's figures, and copied into it.
void Chip::Impl::RecordStats(LaunchResult& r) {
  stats.ResetValues();
  *stat_cycles += static_cast<double>(r.cycles);
  *stat_dispatched += static_cast<double>(r.dispatched_instructions);
  *stat_hbm_read += static_cast<double>(r.hbm_read_bytes);
  *stat_hbm_write += static_cast<double>(r.hbm_write_bytes);
  *stat_dcache_misses += static_cast<double>(r.dcache_misses);
  for (int side = 0; side < 2; ++side)
    for (int p = 0; p < kNumPipes; ++p) {
      if (!SpecOf(static_cast<Pipe>(p)).queued) continue;
      const PipeUsage& u = (side == 0 ? r.aiv : r.aic)[p];
      *pipe_stats[side][p].busy += static_cast<double>(u.busy_cycles);
      *pipe_stats[side][p].instructions += static_cast<double>(u.instructions);
    }
  r.stats.assign(stats.all().begin(), stats.all().end());
}

LaunchResult Chip::Launch(const KernelLaunch& k) {
  Impl& s = *impl_;
  if (k.block_dim < 1) throw InputError("kernel '" + k.name + "': block_dim must be >= 1");
  if (!k.body) throw InputError("kernel '" + k.name + "' has no body");
  s.launch = &k;
  s.aborted = false;
  s.failure.reset();
  s.input_failure.reset();
  s.cube_flops = s.cube_ideal_cycles = s.vector_ideal_cycles = 0;
  const uint64_t launch_cycle = NowCycles();
  s.memory->BeginLaunch(launch_cycle, s.cfg.l2_across_launches && k.follows);
  s.links->Reset(launch_cycle);
  s.start_cycle =
      launch_cycle +
      s.cfg.NsToCycles(((k.same_kernel ? 0.0 : s.cfg.launch_overhead_us) + k.start_delay_us) * 1e3);
  const int64_t cores_of_unit = k.core_type == CoreType::kAiv ? s.cfg.aiv_count : s.cfg.aic_count;
  const int64_t units = std::min(k.block_dim, cores_of_unit);
  s.launch_units = units;
  for (auto& t : s.all_core_sets) std::fill(std::begin(t), std::end(t), 0);
  const std::vector<CoreModel*> used = s.AssignBlocks(k, units);
  if (s.trace) s.NameTraceThreads(used);
  // Last core first: the order in which the scalar threads run at the launch cycle decides which
  // core's first transfers reserve the shared bandwidth first, and SystemC ran the threads it
  // used to spawn per launch in that order; keeping it keeps every figure.
  for (auto c = used.rbegin(); c != used.rend(); ++c) (*c)->StartLaunch();
  sc_core::sc_start();
  s.CheckDeadlock(k, used);
  if (s.failure || s.input_failure) {  // thrown here, outside the helpers (see Unwind)
    s.Unwind(used);
    if (s.input_failure) throw *s.input_failure;
    throw *s.failure;
  }
  LaunchResult r;
  const uint64_t end = s.Collect(k, used, r);
  r.cycles = end - launch_cycle;
  r.time_us = s.cfg.CyclesToUs(static_cast<double>(r.cycles));
  r.waves = static_cast<int>((k.block_dim + units - 1) / units);
  s.RecordStats(r);
  // The next launch starts after this one ends (stream order).
  if (NowCycles() < end) sc_core::sc_start(Cycles(end - NowCycles()));
  s.launch = nullptr;
  return r;
}

void AppendLaunch(LaunchResult& into, const LaunchResult& next) {
  into.cycles += next.cycles;
  into.time_us += next.time_us;
  into.instructions += next.instructions;
  into.dispatched_instructions += next.dispatched_instructions;
  into.hbm_read_bytes += next.hbm_read_bytes;
  into.hbm_write_bytes += next.hbm_write_bytes;
  into.l2_hit_bytes += next.l2_hit_bytes;
  into.dcache_misses += next.dcache_misses;
  into.link_bytes += next.link_bytes;
  into.link_pair_bytes += next.link_pair_bytes;
  into.link_max_peer_bytes += next.link_max_peer_bytes;
  into.cube_flops += next.cube_flops;
  into.cube_ideal_cycles += next.cube_ideal_cycles;
  into.vector_ideal_cycles += next.vector_ideal_cycles;
  for (int m = 0; m < kNumMems; ++m)
    into.peak_bytes[m] = std::max(into.peak_bytes[m], next.peak_bytes[m]);
  for (int p = 0; p < kNumPipes; ++p) {
    for (auto [a, b] :
         {std::pair{&into.aiv[p], &next.aiv[p]}, std::pair{&into.aic[p], &next.aic[p]}}) {
      a->busy_cycles += b->busy_cycles;
      a->instructions += b->instructions;
      a->cores = std::max(a->cores, b->cores);
    }
  }
  into.waves += next.waves;
  for (const Stat& st : next.stats) {
    auto it = std::find_if(into.stats.begin(), into.stats.end(),
                           [&](const Stat& x) { return x.name == st.name; });
    if (it == into.stats.end())
      into.stats.push_back(st);
    else
      it->value += st.value;
  }
}

}  // namespace npusim
