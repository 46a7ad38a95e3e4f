/// The sparse attention core as one fused native kernel (native/edge_attention.c), forward and backward, wrapped as
/// a TorchSharp autograd function. `EdgeAttention.sparse` uses it for float32 CPU tensors when the kernel library was
/// built (it needs gcc at build time; without it, or with `Attention = TorchOperations` in Engine.configureProcess, the torch-operation path runs).
///
/// Why: the attention core in torch operations is ~40 elementwise passes over the B·E edge rows per layer, forward
/// and backward, and it was the largest single part of a velocity-model step (35-39 ms per layer for UCI, 2 threads).
/// The kernel reads each edge's four term rows twice in the forward (once per direction) and three times in the
/// backward, with no temporaries. It computes the same function: tested against the torch path, values and all seven
/// gradients (TestRelationalTransformer).
///
/// Parallelism: the batch is split into one contiguous range per intra-op thread, each range on its own .NET task;
/// a range touches only its own rows, so there are no races and the summation order is fixed (deterministic).
[<RequireQualifiedAccess>]
module WeightFlow.EdgeAttentionKernel

open System
open System.IO
open System.Collections.Generic
open System.Runtime.InteropServices
open System.Threading.Tasks
open TorchSharp

[<Literal>]
let private Library = "weightflow_native"

module private Native =
    [<DllImport(Library)>]
    extern int wf_edge_attention_forward(int64 b0, int64 b1, int64 nodes, int64 edges, int layers, int64[] w, int heads,
                                         int dh, float32 scale, nativeint q, nativeint k, nativeint v, nativeint qe,
                                         nativeint ke, nativeint ve, nativeint me, nativeint out, nativeint lse)

    [<DllImport(Library)>]
    extern int wf_edge_attention_backward(int64 b0, int64 b1, int64 nodes, int64 edges, int layers, int64[] w, int heads,
                                          int dh, float32 scale, nativeint q, nativeint k, nativeint v, nativeint qe,
                                          nativeint ke, nativeint ve, nativeint me, nativeint out, nativeint lse,
                                          nativeint gout, nativeint gq, nativeint gk, nativeint gv, nativeint gqe,
                                          nativeint gke, nativeint gve, nativeint gme)

    [<DllImport(Library)>]
    extern int wf_factored_attention_forward(int64 b0, int64 b1, int64 nodes, int64 edges, int layers, int64[] w, int heads,
                                             int dh, int de, float32 scale, nativeint q, nativeint k, nativeint v,
                                             nativeint qt, nativeint kt, nativeint e, nativeint u, nativeint me,
                                             nativeint out, nativeint ebar, nativeint lse)

    [<DllImport(Library)>]
    extern int wf_factored_attention_backward(int64 b0, int64 b1, int64 nodes, int64 edges, int layers, int64[] w,
                                              int heads, int dh, int de, float32 scale, nativeint q, nativeint k,
                                              nativeint v, nativeint qt, nativeint kt, nativeint e, nativeint u,
                                              nativeint me, nativeint out, nativeint ebar, nativeint lse, nativeint gout,
                                              nativeint gebar, nativeint gq, nativeint gk, nativeint gv, nativeint gqt,
                                              nativeint gkt, nativeint ge, nativeint gu, nativeint gme)

    /// TorchSharp's own export: the data pointer of a tensor.
    [<DllImport("LibTorchSharp")>]
    extern nativeint THSTensor_data(nativeint handle)

let private libraryPath () = Engine.nativeLibrary $"lib{Library}.so"

/// Whether the fused kernel can run here: Linux x64 with AVX2/FMA (it is compiled for x86-64-v3) and the library built
/// beside WeightFlow.Core.dll.
let available : Lazy<bool> =
    lazy (
        Engine.ensureLoaded ()
        let path = libraryPath ()
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture = Architecture.X64
        && Runtime.Intrinsics.X86.Avx2.IsSupported && Runtime.Intrinsics.X86.Fma.IsSupported
        && File.Exists path
        && (NativeLibrary.SetDllImportResolver(typeof<NeuralGraph>.Assembly, fun name _ _ ->
                if name = Library then NativeLibrary.Load path else nativeint 0)
            true))

/// Whether the fused kernel runs: it is `available` and the process settings ask for it (Engine.configureProcess,
/// `Attention = Fused`, the default).
let enabled () : bool = (Engine.settings ()).Attention = Engine.Fused && available.Force()

/// What the kernel needs to know about the graph and the heads.
type private Shape = { Widths: int64[]; Nodes: int64; Edges: int64; Heads: int; Dh: int; Scale: float32 }

let private ptr (t: Tensor) = Native.THSTensor_data t.Handle

/// Runs `f b0 b1` over one contiguous batch range per intra-op thread, in parallel, and checks the return codes.
let private overBatch (batch: int64) (f: int64 -> int64 -> int) =
    let chunks = int (min batch (int64 (max 1 (torch.get_num_threads ()))))
    let codes = Array.zeroCreate chunks
    let run c =
        let b0 = batch * int64 c / int64 chunks
        let b1 = batch * int64 (c + 1) / int64 chunks
        codes[c] <- f b0 b1
    if chunks = 1 then run 0 else Parallel.For(0, chunks, run) |> ignore
    match codes |> Array.tryFind ((<>) 0) with
    | Some rc -> failwith $"The fused edge-attention kernel failed (code {rc}): the graph does not match the tensors."
    | None -> ()

/// Checks every input against the shape the kernel will read it with: the kernels read raw memory, so any mismatch
/// must stop here, not read out of bounds. Messages are built only on failure (this runs per input, layer and step).
let private checkInputs (g: NeuralGraph) (names: string[]) (expected: int64[][]) (inputs: Tensor[]) =
    inputs |> Array.iteri (fun i t ->
        if not (t.dtype = torch.float32 && t.device_type = DeviceType.CPU) then
            invalidArg names[i] $"The fused attention takes float32 CPU tensors; {names[i]} is {t.dtype} on {t.device}."
        if t.shape <> expected[i] then
            invalidArg names[i] $"{names[i]} must have shape %A{expected[i]} for a {g.Layout} graph but has %A{t.shape}.")

/// Runs a forward kernel with no graph to record (inference, or sampling a trained flow): on contiguous copies where
/// needed, which are freed after it; nothing is saved.
let private alone (inputs: Tensor[]) (run: Tensor[] -> 'a) : 'a =
    let contiguous = inputs |> Array.map (fun t -> t.contiguous())
    let result = run contiguous
    for c, t in Array.zip contiguous inputs do if not (obj.ReferenceEquals(c, t)) then c.Dispose()
    result

/// The forward kernel over contiguous inputs: (output [B, N, heads, dh], log-sum-exp [B, N, heads]).
let private forward (s: Shape) (inputs: Tensor[]) : Tensor * Tensor =
    let q = inputs[0]
    let b = q.shape[0]
    let out = torch.empty(q.shape, dtype = q.dtype, device = q.device)
    let lse = torch.empty([| b; s.Nodes; int64 s.Heads |], dtype = q.dtype, device = q.device)
    let p = inputs |> Array.map ptr
    let po, pl = ptr out, ptr lse
    overBatch b (fun b0 b1 ->
        Native.wf_edge_attention_forward(b0, b1, s.Nodes, s.Edges, s.Widths.Length - 1, s.Widths, s.Heads, s.Dh, s.Scale,
                                         p[0], p[1], p[2], p[3], p[4], p[5], p[6], po, pl))
    out, lse

type private Fused() =
    inherit torch.autograd.MultiTensorFunction<Fused>()
    override _.Name = "WeightFlowSparseEdgeAttention"

    override _.forward(ctx, vars) =
        let s = vars[0] :?> Shape
        let inputs = vars[1..] |> Array.map (fun o -> (o :?> Tensor).contiguous())
        let out, lse = forward s inputs
        ctx.save_for_backward(List<Tensor>(Array.append inputs [| out; lse |]))
        ctx.save_data("shape", box s)
        List<Tensor>([ out ])

    override _.backward(ctx, grads) =
        let s = ctx.get_data("shape") :?> Shape
        let saved = ctx.get_saved_variables()
        let gout = grads[0].contiguous()
        let q = saved[0]
        let b = q.shape[0]
        let gs = [| for i in 0 .. 6 -> torch.empty(saved[i].shape, dtype = q.dtype, device = q.device) |]
        let p = [| for t in saved -> ptr t |]
        let pg = gs |> Array.map ptr
        let pgo = ptr gout
        overBatch b (fun b0 b1 ->
            Native.wf_edge_attention_backward(b0, b1, s.Nodes, s.Edges, s.Widths.Length - 1, s.Widths, s.Heads, s.Dh, s.Scale,
                                              p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], pgo,
                                              pg[0], pg[1], pg[2], pg[3], pg[4], pg[5], pg[6]))
        // one gradient per input of `apply`, the first being the (non-tensor) shape
        List<Tensor>(Array.append [| null |] gs)

/// The fused sparse attention: node terms q, k, v [B, N, heads, dh], edge terms [B, E, heads, dh] (float32, CPU)
/// -> [B, N, heads, dh]; differentiable in all seven inputs.
let sparse (g: NeuralGraph) (scale: float) (q: Tensor) (k: Tensor) (v: Tensor) (qe: Tensor) (ke: Tensor) (ve: Tensor) (me: Tensor) : Tensor =
    let shape =
        { Widths = g.Layout.Widths |> Array.map int64; Nodes = int64 g.NodeCount; Edges = int64 g.EdgeCount
          Heads = int q.shape[2]; Dh = int q.shape[3]; Scale = float32 scale }
    let inputs = [| q; k; v; qe; ke; ve; me |]
    let b = q.shape[0]
    let row (rows: int64) = [| b; rows; int64 shape.Heads; int64 shape.Dh |]
    checkInputs g [| "q"; "k"; "v"; "qe"; "ke"; "ve"; "me" |]
        [| row shape.Nodes; row shape.Nodes; row shape.Nodes; row shape.Edges; row shape.Edges; row shape.Edges; row shape.Edges |] inputs
    if torch.is_grad_enabled () && inputs |> Array.exists (fun t -> t.requires_grad) then
        (Fused.apply([| box shape; box q; box k; box v; box qe; box ke; box ve; box me |]))[0]
    else
        alone inputs (fun contiguous ->
            let out, lse = forward shape contiguous
            lse.Dispose()
            out)

// ---------------------------------------------------------------------------------------------------------------
// The factored form (native/factored_attention.c): edge projections through the edge features

/// What the factored kernel needs besides the graph: the edge feature width De.
type private FactoredShape = { Graph: Shape; De: int }

/// The factored forward over contiguous inputs: (out [B, N, heads, dh], ebar [B, N, heads, De], lse [B, N, heads]).
let private factoredForward (f: FactoredShape) (inputs: Tensor[]) : Tensor * Tensor * Tensor =
    let s = f.Graph
    let q = inputs[0]
    let b = q.shape[0]
    let out = torch.empty(q.shape, dtype = q.dtype, device = q.device)
    let ebar = torch.empty([| b; s.Nodes; int64 s.Heads; int64 f.De |], dtype = q.dtype, device = q.device)
    let lse = torch.empty([| b; s.Nodes; int64 s.Heads |], dtype = q.dtype, device = q.device)
    let p = inputs |> Array.map ptr
    let po, pe, pl = ptr out, ptr ebar, ptr lse
    overBatch b (fun b0 b1 ->
        Native.wf_factored_attention_forward(b0, b1, s.Nodes, s.Edges, s.Widths.Length - 1, s.Widths, s.Heads, s.Dh, f.De,
                                             s.Scale, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], po, pe, pl))
    out, ebar, lse

type private FusedFactored() =
    inherit torch.autograd.MultiTensorFunction<FusedFactored>()
    override _.Name = "WeightFlowFactoredEdgeAttention"

    override _.forward(ctx, vars) =
        let f = vars[0] :?> FactoredShape
        let inputs = vars[1..] |> Array.map (fun o -> (o :?> Tensor).contiguous())
        let out, ebar, lse = factoredForward f inputs
        ctx.save_for_backward(List<Tensor>(Array.append inputs [| out; ebar; lse |]))
        ctx.save_data("shape", box f)
        List<Tensor>([ out; ebar ])

    override _.backward(ctx, grads) =
        let f = ctx.get_data("shape") :?> FactoredShape
        let s = f.Graph
        let saved = ctx.get_saved_variables()
        let q = saved[0]
        // an output that does not reach the loss has no gradient: it contributes zero
        let gradOf i = if isNull grads[i] then torch.zeros_like(saved[8 + i]) else grads[i].contiguous()
        let gout, gebar = gradOf 0, gradOf 1
        let b = q.shape[0]
        let gs = [| for i in 0 .. 7 -> torch.empty(saved[i].shape, dtype = q.dtype, device = q.device) |]
        let p = [| for t in saved -> ptr t |]
        let pg = gs |> Array.map ptr
        let pgo, pge = ptr gout, ptr gebar
        overBatch b (fun b0 b1 ->
            Native.wf_factored_attention_backward(b0, b1, s.Nodes, s.Edges, s.Widths.Length - 1, s.Widths, s.Heads, s.Dh,
                                                  f.De, s.Scale, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8],
                                                  p[9], p[10], pgo, pge, pg[0], pg[1], pg[2], pg[3], pg[4], pg[5], pg[6],
                                                  pg[7]))
        List<Tensor>(Array.append [| null |] gs)

/// The factored sparse attention (float32, CPU): node terms q, k, v [B, N, heads, dh] and qt = Wkᵀq, kt = Wqᵀk
/// [B, N, heads, De]; edge features e [B, E, De], u = (WqᵀWk) e [B, E, heads, De] and me [B, E, heads, dh] ->
/// (out [B, N, heads, dh], the value part Σ a v ⊙ me; ebar [B, N, heads, De], Σ a e), differentiable in all eight
/// inputs. The attention is out + Wv ebar per head (EdgeAttention.sparseProjected).
let factored (g: NeuralGraph) (scale: float) (q: Tensor) (k: Tensor) (v: Tensor) (qt: Tensor) (kt: Tensor) (e: Tensor) (u: Tensor) (me: Tensor) : Tensor * Tensor =
    let heads, dh = q.shape[2], q.shape[3]
    let de = e.shape[2]
    let shape =
        { Graph = { Widths = g.Layout.Widths |> Array.map int64; Nodes = int64 g.NodeCount; Edges = int64 g.EdgeCount
                    Heads = int heads; Dh = int dh; Scale = float32 scale }
          De = int de }
    let inputs = [| q; k; v; qt; kt; e; u; me |]
    let b = q.shape[0]
    let n, m = int64 g.NodeCount, int64 g.EdgeCount
    checkInputs g [| "q"; "k"; "v"; "qt"; "kt"; "e"; "u"; "me" |]
        [| [| b; n; heads; dh |]; [| b; n; heads; dh |]; [| b; n; heads; dh |]; [| b; n; heads; de |]
           [| b; n; heads; de |]; [| b; m; de |]; [| b; m; heads; de |]; [| b; m; heads; dh |] |] inputs
    if torch.is_grad_enabled () && inputs |> Array.exists (fun t -> t.requires_grad) then
        let outs = FusedFactored.apply([| yield box shape; for t in inputs -> box t |])
        outs[0], outs[1]
    else
        alone inputs (fun contiguous ->
            let out, ebar, lse = factoredForward shape contiguous
            lse.Dispose()
            out, ebar)
