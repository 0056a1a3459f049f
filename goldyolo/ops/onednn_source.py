"""The C++ side of :mod:`goldyolo.ops.conv`: oneDNN convolutions with their primitives kept per shape.

Jittor's own oneDNN path builds a new convolution primitive (and its reorders) at every call. Here each
geometry (shapes, stride, padding, dilation, groups, data type, with or without bias) gets its forward,
backward-data and backward-weights primitives once, chosen by oneDNN with ``format_tag::any`` (its blocked
layouts), with the reorders between Jittor's plain NCHW / OIHW arrays and those layouts; the blocked copies
share three buffers that grow to the largest convolution. The bias (and, for inference, the activation) is
applied inside the forward convolution, and the bias gradient comes from backward-weights. Jittor's executor
runs one operator at a time, so the buffers are never used by two calls at once. The two gradients come
from one call, which reorders the output's gradient once for both.
"""

HEADER = r"""
#include <dnnl.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace goldyolo_dnnl {
using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

static engine& eng() { static engine e(engine::kind::cpu, 0); return e; }
static stream& strm() { static stream s(eng()); return s; }

struct Geometry {
    memory::dims src, wei, bias, dst, strides, dilates, pad_l, pad_r;
    int groups;
    dt type;
    std::string key;
    Geometry(long n, long c, long h, long w, long oc, long kh, long kw, long sh, long sw, long ph, long pw,
             long dh, long dw, long g, bool bf16) {
        long oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1, ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
        src = {n, c, h, w};
        dst = {n, oc, oh, ow};
        wei = g == 1 ? memory::dims{oc, c, kh, kw} : memory::dims{g, oc / g, c / g, kh, kw};
        bias = {oc};
        strides = {sh, sw};
        dilates = {dh - 1, dw - 1};
        pad_l = {ph, pw};
        pad_r = {ph, pw};
        groups = (int)g;
        type = bf16 ? dt::bf16 : dt::f32;
        for (long v : {n, c, h, w, oc, kh, kw, sh, sw, ph, pw, dh, dw, g}) key += std::to_string(v) + ",";
        key += bf16 ? "bf16" : "f32";
    }
    // Jittor's arrays are float32 in plain layouts; the convolution reads its inputs in ``type`` (bf16: the
    // reorders into oneDNN's layouts also round) and writes float32
    memory::desc plain_src() const { return {src, dt::f32, tag::nchw}; }
    memory::desc plain_dst() const { return {dst, dt::f32, tag::nchw}; }
    memory::desc plain_wei() const { return {wei, dt::f32, groups == 1 ? tag::oihw : tag::goihw}; }
    memory::desc plain_bias() const { return {bias, dt::f32, tag::x}; }
    memory::desc any(const memory::dims& d) const { return {d, type, tag::any}; }
    memory::desc any_f32(const memory::dims& d) const { return {d, dt::f32, tag::any}; }
};

// Blocked copies live in five arenas (by role: first input, second input, output; a chain's results in turn in
// 3 and 0; a second copy of an output gradient in 4) that grow to the largest size asked for; the operators run
// one at a time, so every geometry shares them and the memory they take is that of the largest convolution, not
// of every shape seen.
static void* arena(int role, size_t bytes) {
    static std::vector<std::pair<size_t, std::unique_ptr<char[]>>> arenas(5);
    auto& a = arenas[role];
    if (a.first < bytes) {
        a.second.reset(new char[bytes + 64]);
        a.first = bytes;
    }
    return (void*)(((uintptr_t)a.second.get() + 63) & ~(uintptr_t)63);
}

// A plain array seen in the layout a primitive wants: the array itself when the layouts agree, else a copy in
// an arena and the reorder into it (for an output, the reorder back).
struct Slot {
    memory plain, inner;
    std::unique_ptr<reorder> move;
    bool same = true;
    int role = 0;
    void init(const memory::desc& plain_desc, const memory::desc& wanted, int role_, bool to_plain) {
        plain = memory(plain_desc, eng(), nullptr);
        role = role_;
        same = plain_desc == wanted;
        if (same) return;
        inner = memory(wanted, eng(), nullptr);
        move.reset(to_plain ? new reorder(inner, plain) : new reorder(plain, inner));
    }
    memory& in(const void* p) {  // an input: reordered into the arena when needed
        plain.set_data_handle(const_cast<void*>(p));
        if (same) return plain;
        inner.set_data_handle(arena(role, inner.get_desc().get_size()));
        move->execute(strm(), plain, inner);
        return inner;
    }
    memory& out(void* p) {  // an output: the primitive writes here, then ``finish`` reorders
        plain.set_data_handle(p);
        if (same) return plain;
        inner.set_data_handle(arena(role, inner.get_desc().get_size()));
        return inner;
    }
    void finish() { if (!same) move->execute(strm(), inner, plain); }
};

// Weights in a primitive's layout, kept while the caller says they are frozen: ``generation`` > 0 names one
// period in which no weight changes (a new period drops every copy); 0 reorders them at every call.
struct Packed {
    long generation = 0;
    std::unique_ptr<char[]> buffer;
    memory mem;
};

static memory& weights(Slot& slot, const std::string& key, const void* w, long generation) {
    if (generation <= 0 || slot.same) return slot.in(w);
    static std::unordered_map<std::string, Packed> cache;
    static long current = 0;
    if (generation != current) {
        cache.clear();
        current = generation;
    }
    auto& p = cache[key + ":" + std::to_string((uintptr_t)w)];
    if (p.generation != generation) {
        auto desc = slot.inner.get_desc();
        p.buffer.reset(new char[desc.get_size() + 64]);
        p.mem = memory(desc, eng(), (void*)(((uintptr_t)p.buffer.get() + 63) & ~(uintptr_t)63));
        slot.plain.set_data_handle(const_cast<void*>(w));
        slot.move->execute(strm(), slot.plain, p.mem);
        p.generation = generation;
    }
    return p.mem;
}

struct Forward {
    convolution_forward::primitive_desc pd;
    std::unique_ptr<convolution_forward> prim;
    Slot src, wei, dst;
    memory bias;
    bool has_bias;
};

// activations a forward convolution can apply to its result (inference only: the backward would need the
// result before the activation): 0 none, 1 ReLU, 2 SiLU (swish with beta 1), 3 ReLU6 (clip to [0, 6])
static primitive_attr activation(int act) {
    primitive_attr attr;
    if (act == 0) return attr;
    post_ops ops;
    if (act == 1) ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    if (act == 2) ops.append_eltwise(1.f, algorithm::eltwise_swish, 1.f, 0.f);
    if (act == 3) ops.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f);
    attr.set_post_ops(ops);
    return attr;
}

static std::shared_ptr<Forward> forward(const Geometry& g, bool has_bias, bool training, int act = 0) {
    static std::unordered_map<std::string, std::shared_ptr<Forward>> cache;
    std::string key = g.key + (has_bias ? "+b" : "") + (training ? "+t" : "+i") + "+a" + std::to_string(act);
    auto found = cache.find(key);
    if (found != cache.end()) return found->second;
    auto f = std::make_shared<Forward>();
    auto kind = training ? prop_kind::forward_training : prop_kind::forward_inference;
    auto d = has_bias
        ? convolution_forward::desc(kind, algorithm::convolution_direct, g.any(g.src), g.any(g.wei),
                                    g.plain_bias(), g.any_f32(g.dst), g.strides, g.dilates, g.pad_l, g.pad_r)
        : convolution_forward::desc(kind, algorithm::convolution_direct, g.any(g.src), g.any(g.wei),
                                    g.any_f32(g.dst), g.strides, g.dilates, g.pad_l, g.pad_r);
    f->pd = convolution_forward::primitive_desc(d, activation(act), eng());
    f->prim.reset(new convolution_forward(f->pd));
    f->src.init(g.plain_src(), f->pd.src_desc(), 0, false);
    f->wei.init(g.plain_wei(), f->pd.weights_desc(), 1, false);
    f->dst.init(g.plain_dst(), f->pd.dst_desc(), 2, true);
    f->bias = memory(g.plain_bias(), eng(), nullptr);
    f->has_bias = has_bias;
    cache[key] = f;
    return f;
}

static void conv_forward(const Geometry& g, const void* x, const void* w, const float* b, void* y, bool training,
                         int act = 0, long generation = 0) {
    auto f = forward(g, b != nullptr, training, act);
    std::string key = g.key + (b ? "+b" : "") + "+a" + std::to_string(act);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, f->src.in(x)},
                                         {DNNL_ARG_WEIGHTS, weights(f->wei, key, w, generation)},
                                         {DNNL_ARG_DST, f->dst.out(y)}};
    if (b) {
        f->bias.set_data_handle(const_cast<float*>(b));
        args[DNNL_ARG_BIAS] = f->bias;
    }
    f->prim->execute(strm(), args);
    f->dst.finish();
    strm().wait();
}

// A chain: convolutions each reading the one before (inference), the intermediate results kept in the
// channels-last layout (in bf16 when the chain computes in bf16) in two arenas used in turn, so that only the
// chain's input and output are reordered from and to Jittor's plain NCHW float32.
struct Link {
    std::unique_ptr<convolution_forward> prim;
    Slot src, wei, dst;  // src: the first link's input; dst: the last link's output
    memory mid_src, mid_dst, bias;
    std::string key;
};

// the arena link ``i`` of a chain writes to: the first link reads the chain's input from arena 0 and writes to
// arena 3, the next reads 3 and writes 0 (free again), and so on, so that a chain holds two buffers at a time
static int chain_arena(size_t i) { return i % 2 == 0 ? 3 : 0; }

static std::vector<std::shared_ptr<Link>>& chain(const std::vector<Geometry>& gs, const int* acts,
                                                 const float* const* bs) {
    static std::unordered_map<std::string, std::vector<std::shared_ptr<Link>>> cache;
    std::string key;
    for (size_t i = 0; i < gs.size(); ++i)
        key += gs[i].key + (bs[i] ? "+b" : "") + "+a" + std::to_string(acts[i]) + "|";
    auto& links = cache[key];
    if (!links.empty()) return links;
    size_t last = gs.size() - 1;
    for (size_t i = 0; i < gs.size(); ++i) {
        const Geometry& g = gs[i];
        auto l = std::make_shared<Link>();
        memory::desc src = i == 0 ? g.any(g.src) : memory::desc(g.src, g.type, tag::nhwc);
        memory::desc dst = i == last ? g.any_f32(g.dst) : memory::desc(g.dst, g.type, tag::nhwc);
        auto kind = prop_kind::forward_inference;
        auto d = bs[i]
            ? convolution_forward::desc(kind, algorithm::convolution_direct, src, g.any(g.wei), g.plain_bias(), dst,
                                        g.strides, g.dilates, g.pad_l, g.pad_r)
            : convolution_forward::desc(kind, algorithm::convolution_direct, src, g.any(g.wei), dst, g.strides,
                                        g.dilates, g.pad_l, g.pad_r);
        auto pd = convolution_forward::primitive_desc(d, activation(acts[i]), eng());
        l->prim.reset(new convolution_forward(pd));
        l->wei.init(g.plain_wei(), pd.weights_desc(), 1, false);
        if (i == 0) l->src.init(g.plain_src(), pd.src_desc(), 0, false);
        else l->mid_src = memory(pd.src_desc(), eng(), nullptr);
        if (i == last) l->dst.init(g.plain_dst(), pd.dst_desc(), chain_arena(i), true);
        else l->mid_dst = memory(pd.dst_desc(), eng(), nullptr);
        l->bias = memory(g.plain_bias(), eng(), nullptr);
        l->key = g.key + (bs[i] ? "+b" : "") + "+a" + std::to_string(acts[i]);
        links.push_back(l);
    }
    return links;
}

static void conv_chain(const std::vector<Geometry>& gs, const int* acts, const void* x, const void* const* ws,
                       const float* const* bs, void* y, long generation) {
    auto& links = chain(gs, acts, bs);
    size_t last = links.size() - 1;
    memory previous;
    for (size_t i = 0; i <= last; ++i) {
        auto& l = *links[i];
        memory src = i == 0 ? l.src.in(x) : previous;
        memory dst;
        if (i == last) {
            dst = l.dst.out(y);
        } else {
            l.mid_dst.set_data_handle(arena(chain_arena(i), l.mid_dst.get_desc().get_size()));
            dst = l.mid_dst;
        }
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights(l.wei, l.key, ws[i],
                                                                                             generation)},
                                             {DNNL_ARG_DST, dst}};
        if (bs[i]) {
            l.bias.set_data_handle(const_cast<float*>(bs[i]));
            args[DNNL_ARG_BIAS] = l.bias;
        }
        l.prim->execute(strm(), args);
        previous = dst;
    }
    links[last]->dst.finish();
    strm().wait();
}

// Both gradients of a convolution in one call: backward-data, then backward-weights (with the bias gradient),
// the output's gradient reordered once when both primitives read it in one layout. Arenas: the output's gradient
// 0, the weights 1 (then the weights' gradient), the input's gradient 2, the input 3, a second copy of the
// output's gradient 4 (only when the layouts differ).
struct Backward {
    std::unique_ptr<convolution_backward_data> data;
    std::unique_ptr<convolution_backward_weights> weights;
    Slot dy, w, dx, x, dy_w, dw;
    memory db;
    bool share_dy;
};

static Backward& backward(const Geometry& g, bool has_bias) {
    static std::unordered_map<std::string, std::shared_ptr<Backward>> cache;
    auto& b = cache[g.key + (has_bias ? "+b" : "")];
    if (b) return *b;
    b = std::make_shared<Backward>();
    auto hint = forward(g, has_bias, true)->pd;
    auto dd = convolution_backward_data::desc(algorithm::convolution_direct, g.any_f32(g.src), g.any(g.wei),
                                              g.any(g.dst), g.strides, g.dilates, g.pad_l, g.pad_r);
    auto dpd = convolution_backward_data::primitive_desc(dd, eng(), hint);
    auto wd = has_bias
        ? convolution_backward_weights::desc(algorithm::convolution_direct, g.any(g.src), g.any_f32(g.wei),
                                             g.plain_bias(), g.any(g.dst), g.strides, g.dilates, g.pad_l, g.pad_r)
        : convolution_backward_weights::desc(algorithm::convolution_direct, g.any(g.src), g.any_f32(g.wei),
                                             g.any(g.dst), g.strides, g.dilates, g.pad_l, g.pad_r);
    auto wpd = convolution_backward_weights::primitive_desc(wd, eng(), hint);
    b->data.reset(new convolution_backward_data(dpd));
    b->weights.reset(new convolution_backward_weights(wpd));
    b->dy.init(g.plain_dst(), dpd.diff_dst_desc(), 0, false);
    b->w.init(g.plain_wei(), dpd.weights_desc(), 1, false);
    b->dx.init(g.plain_src(), dpd.diff_src_desc(), 2, true);
    b->x.init(g.plain_src(), wpd.src_desc(), 3, false);
    b->share_dy = dpd.diff_dst_desc() == wpd.diff_dst_desc();
    b->dy_w.init(g.plain_dst(), wpd.diff_dst_desc(), 4, false);
    b->dw.init(g.plain_wei(), wpd.diff_weights_desc(), 1, true);
    b->db = memory(g.plain_bias(), eng(), nullptr);
    return *b;
}

static void conv_backward(const Geometry& g, const void* gy, const void* w, const void* x, void* gx, void* gw,
                          float* gb) {
    Backward& b = backward(g, gb != nullptr);
    memory dy = b.dy.in(gy);
    b.data->execute(strm(), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, b.w.in(w)},
                             {DNNL_ARG_DIFF_SRC, b.dx.out(gx)}});
    b.dx.finish();
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, b.x.in(x)},
                                         {DNNL_ARG_DIFF_DST, b.share_dy ? dy : b.dy_w.in(gy)},
                                         {DNNL_ARG_DIFF_WEIGHTS, b.dw.out(gw)}};
    if (gb) {
        b.db.set_data_handle(gb);
        args[DNNL_ARG_DIFF_BIAS] = b.db;
    }
    b.weights->execute(strm(), args);
    b.dw.finish();
    strm().wait();
}
// Pooling for inference on Jittor's plain NCHW float32 arrays: max (padding never wins, as PyTorch's -inf
// padding) or average over windows without padding; the primitive kept per shape.
static void pool_forward(long n, long c, long h, long w, long kh, long kw, long sh, long sw, long ph, long pw,
                         bool average, const float* x, float* y) {
    static std::unordered_map<std::string, std::shared_ptr<pooling_forward>> cache;
    std::string key;
    for (long v : {n, c, h, w, kh, kw, sh, sw, ph, pw}) key += std::to_string(v) + ",";
    key += average ? "avg" : "max";
    long oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
    memory::desc src({n, c, h, w}, dt::f32, tag::nchw), dst({n, c, oh, ow}, dt::f32, tag::nchw);
    auto& prim = cache[key];
    if (!prim) {
        auto d = pooling_forward::desc(prop_kind::forward_inference,
                                       average ? algorithm::pooling_avg_exclude_padding : algorithm::pooling_max,
                                       src, dst, {sh, sw}, {kh, kw}, {ph, pw}, {ph, pw});
        prim = std::make_shared<pooling_forward>(pooling_forward::primitive_desc(d, eng()));
    }
    memory in(src, eng(), const_cast<float*>(x)), out(dst, eng(), y);
    prim->execute(strm(), {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, out}});
    strm().wait();
}
// Batched matrix products (the attention blocks' q.k and attn.v): c[i] = a[i] b[i] on Jittor's plain row-major
// float32 arrays (batch, m, k) and (batch, k, n); with bf16 the inputs are rounded to bf16 (float32 sums and
// output). The primitive is kept per shape.
struct MatmulEntry {
    std::unique_ptr<matmul> prim;
    Slot a, b;
    memory c;
};

static void matmul_forward(long batch, long m, long k, long n, bool bf16, const float* a, const float* b,
                           float* c) {
    static std::unordered_map<std::string, std::unique_ptr<MatmulEntry>> cache;
    std::string key;
    for (long v : {batch, m, k, n}) key += std::to_string(v) + ",";
    key += bf16 ? "bf16" : "f32";
    auto& entry = cache[key];
    if (!entry) {
        entry.reset(new MatmulEntry());
        dt type = bf16 ? dt::bf16 : dt::f32;
        memory::desc plain_a({batch, m, k}, dt::f32, tag::abc), plain_b({batch, k, n}, dt::f32, tag::abc);
        memory::desc plain_c({batch, m, n}, dt::f32, tag::abc);
        auto d = matmul::desc(memory::desc({batch, m, k}, type, tag::abc), memory::desc({batch, k, n}, type, tag::abc),
                              plain_c);
        auto pd = matmul::primitive_desc(d, eng());
        entry->prim.reset(new matmul(pd));
        entry->a.init(plain_a, pd.src_desc(), 0, false);
        entry->b.init(plain_b, pd.weights_desc(), 1, false);
        entry->c = memory(plain_c, eng(), nullptr);
    }
    MatmulEntry& e = *entry;
    e.c.set_data_handle(c);
    e.prim->execute(strm(), {{DNNL_ARG_SRC, e.a.in(a)}, {DNNL_ARG_WEIGHTS, e.b.in(b)}, {DNNL_ARG_DST, e.c}});
    strm().wait();
}
}  // namespace goldyolo_dnnl
"""

# the order of Geometry's arguments (besides the data type)
GEOMETRY_KEYS = ("n", "c", "h", "w", "oc", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw", "groups")

# the geometry, from the call's ``data`` (one compiled operator serves every shape)
GEOMETRY = """goldyolo_dnnl::Geometry g((long)data["n"], (long)data["c"], (long)data["h"], (long)data["w"],
    (long)data["oc"], (long)data["kh"], (long)data["kw"], (long)data["sh"], (long)data["sw"], (long)data["ph"],
    (long)data["pw"], (long)data["dh"], (long)data["dw"], (long)data["groups"], data["bf16"] != 0);
"""
