// OpenEIE compiled RTL harness (openeie.testbench.harness): drives the Verilated engine from a job file, with no
// Python per cycle. Port names are Verilator's: "__" in a Verilog name becomes "___05F".
//
// Job file (little endian): header, then cases.
//   header: "OEIEJOB1", u32 load_limbs (32-bit limbs per load word), u32 n_counters, u32 counter_latency,
//           u64 seed, u32 gap_permille, u32 stall_permille, u32 n_cases
//   case:   u32 n_load, n_load * load_limbs u32 (the load port's words; 0 words: the memories hold the
//           previous case's program), u32 n_in, n_in u32 (activation words for act_in), u32 n_layers,
//           u32 n_out (outputs the stream produces), n_counters u32 (counter port addresses, in order),
//           u64 cycle_limit (start to done; past it the run has hung), u64 output_limit (cycles for the outputs)
// Result file: "OEIERES1", u32 n_cases, then per case: u64 done_cycle, u64 sim_cycles, f64 run_seconds, f64 run_cpu_seconds,
//           n_out u32 (act_out payloads), n_counters u32 (counter values)
//
// Stream protocol as the cocotb testbench (openeie/testbench/tb.py): before each word a source idles 1..3 cycles
// with probability gap_permille/1000; the output sink holds ready low in a cycle with probability
// stall_permille/1000. A transfer happens at a rising edge where valid and ready were both high.
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "verilated.h"
#include HARNESS_TOP_HEADER

using Top = HARNESS_TOP_CLASS;

namespace {

double cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Rng {  // splitmix64
    uint64_t s;
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    bool chance(uint32_t permille) { return permille && next() % 1000 < permille; }
    int gap() { return 1 + int(next() % 3); }
};

template <typename T>
void set_port(T& port, const uint32_t* limbs, uint32_t n) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t v = limbs[0];
        if (n > 1) v |= uint64_t(limbs[1]) << 32;
        port = T(v);
    } else {
        for (uint32_t i = 0; i < n; i++) port[i] = limbs[i];
    }
}

struct Reader {
    FILE* f;
    uint32_t u32() { uint32_t v; need(fread(&v, 4, 1, f) == 1); return v; }
    uint64_t u64() { uint64_t v; need(fread(&v, 8, 1, f) == 1); return v; }
    void words(std::vector<uint32_t>& out, size_t n) { out.resize(n); need(n == 0 || fread(out.data(), 4, n, f) == n); }
    static void need(bool ok) { if (!ok) { fprintf(stderr, "harness: truncated job file\n"); exit(3); } }
};

struct Bench {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Top> top;
    uint64_t cycles = 0;

    Bench() : ctx(new VerilatedContext), top(new Top(ctx.get())) {}

    void settle() { top->clk = 0; top->eval(); }
    void edge() { top->clk = 1; top->eval(); top->clk = 0; top->eval(); cycles++; }

    void reset() {
        top->load___05Fvalid = 0; top->act_in___05Fvalid = 0; top->act_out___05Fready = 0; top->start = 0;
        top->n_layers = 0; top->counter_sel = 0; top->rst = 1;
        settle();
        for (int i = 0; i < 3; i++) edge();
        top->rst = 0;
        edge();
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s JOB RESULT\n", argv[0]); return 2; }
    FILE* in = fopen(argv[1], "rb");
    if (!in) { perror(argv[1]); return 2; }
    Reader r{in};
    char magic[8];
    Reader::need(fread(magic, 1, 8, in) == 8);
    if (memcmp(magic, "OEIEJOB1", 8)) { fprintf(stderr, "harness: not a job file\n"); return 3; }
    const uint32_t limbs = r.u32(), n_counters = r.u32(), latency = r.u32();
    Rng rng{r.u64()};
    const uint32_t gap = r.u32(), stall = r.u32(), n_cases = r.u32();

    FILE* out = fopen(argv[2], "wb");
    if (!out) { perror(argv[2]); return 2; }
    fwrite("OEIERES1", 1, 8, out);
    fwrite(&n_cases, 4, 1, out);

    Bench b;
    Top* t = b.top.get();
    b.reset();
    std::vector<uint32_t> load, acts, sel;
    for (uint32_t c = 0; c < n_cases; c++) {
        const uint64_t t_case = b.cycles;
        const uint32_t n_load = r.u32();
        r.words(load, size_t(n_load) * limbs);
        const uint32_t n_in = r.u32();
        r.words(acts, n_in);
        const uint32_t n_layers = r.u32(), n_out = r.u32();
        r.words(sel, n_counters);
        const uint64_t limit = r.u64(), out_limit = r.u64();

        // load port, then act_in: one word per transfer, random idle gaps before words
        auto send = [&](auto set_valid, auto set_word, auto ready, uint32_t count) {
            for (uint32_t k = 0; k < count; k++) {
                if (rng.chance(gap)) {
                    set_valid(0);
                    for (int g = rng.gap(); g > 0; g--) { b.settle(); b.edge(); }
                }
                set_word(k);
                set_valid(1);
                for (;;) {
                    b.settle();
                    bool done = ready();
                    b.edge();
                    if (done) break;
                }
            }
            set_valid(0);
        };
        send([&](int v) { t->load___05Fvalid = v; }, [&](uint32_t k) { set_port(t->load___05Fpayload, &load[size_t(k) * limbs], limbs); },
             [&] { return bool(t->load___05Fready); }, n_load);
        send([&](int v) { t->act_in___05Fvalid = v; }, [&](uint32_t k) { t->act_in___05Fpayload = acts[k]; },
             [&] { return bool(t->act_in___05Fready); }, n_in);

        // start; done_cycle counts the edges from the one that sampled start to the one after which done is high
        t->n_layers = n_layers;
        t->start = 1;
        b.settle();
        b.edge();
        t->start = 0;
        const uint64_t t_start = b.cycles;
        auto w0 = std::chrono::steady_clock::now();
        const double c0 = cpu_seconds();
        uint64_t guard = 0;
        while (!t->done) {
            b.edge();
            if (++guard > limit) {
                fprintf(stderr, "harness: case %u: no done after %llu cycles\n", c, (unsigned long long)limit);
                return 4;
            }
        }
        const double run_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
        const double run_cpu_s = cpu_seconds() - c0;
        const uint64_t done_cycle = b.cycles - t_start;

        // output stream under random backpressure
        std::vector<uint32_t> outs;
        outs.reserve(n_out);
        uint64_t waited = 0;
        while (outs.size() < n_out) {
            bool ready = !rng.chance(stall);
            t->act_out___05Fready = ready;
            b.settle();
            bool xfer = ready && t->act_out___05Fvalid;
            uint32_t word = uint32_t(t->act_out___05Fpayload);
            b.edge();
            if (xfer) outs.push_back(word);
            if (++waited > out_limit) {
                fprintf(stderr, "harness: case %u: %zu of %u outputs after %llu cycles\n", c, outs.size(), n_out,
                        (unsigned long long)out_limit);
                return 4;
            }
        }
        t->act_out___05Fready = 0;
        b.settle();
        b.edge();   // the counter port reads from the cycle after done

        // counter port: the address set before edge k is read before edge k + latency
        std::vector<uint32_t> values(n_counters);
        for (uint32_t step = 0; step < n_counters + latency; step++) {
            if (step < n_counters) t->counter_sel = sel[step];
            b.settle();
            if (step >= latency) values[step - latency] = uint32_t(t->counter_value);
            b.edge();
        }
        while (t->busy) { b.settle(); b.edge(); }
        const uint64_t sim_cycles = b.cycles - t_case;
        fwrite(&done_cycle, 8, 1, out);
        fwrite(&sim_cycles, 8, 1, out);
        fwrite(&run_s, 8, 1, out);
        fwrite(&run_cpu_s, 8, 1, out);
        fwrite(outs.data(), 4, n_out, out);
        fwrite(values.data(), 4, n_counters, out);
    }
    fclose(out);
    t->final();
    return 0;
}
