/// Networks as standalone files where people run models (issue 14 item 6). ONNX: each MLP of a population becomes one ONNX graph — MatMul by
/// the layer's Wᵀ [in, out], Add of its bias, ReLU between layers (as `Mlp.forward`) — with the weights as
/// initializers, so an application runs it with ONNX Runtime without WeightFlow or libtorch. The protobuf messages
/// are OnnxSharp's (the ONNX schema compiled with Google.Protobuf), not a hand-written serializer. Safetensors: each
/// network's layers under PyTorch's `nn.Sequential(Linear, ReLU, ..., Linear)` names ("0.weight" [out, in], "0.bias",
/// "2.weight", ...), so `load_state_dict` reads it.
[<RequireQualifiedAccess>]
module WeightFlow.NetworkExport

open System
open System.IO
open Google.Protobuf
open Onnx
open TorchSharp

/// The ONNX IR version and operator set the graphs use (MatMul, Add, Relu: unchanged since opset 13/14; IR 7 is read
/// by every ONNX Runtime release since 1.6).
let irVersion = 7L
let opset = 13L

/// The graph's input and output names: `input` [batch, in] float32, `logits` [batch, classes] float32.
let inputName = "input"
let outputName = "logits"

let private floatType = int TensorProto.Types.DataType.Float

let private valueInfo (name: string) (width: int) =
    let shape = TensorShapeProto()
    shape.Dim.Add(TensorShapeProto.Types.Dimension(DimParam = "batch"))
    shape.Dim.Add(TensorShapeProto.Types.Dimension(DimValue = int64 width))
    let tensor = TypeProto.Types.Tensor(ElemType = floatType, Shape = shape)
    ValueInfoProto(Name = name, Type = TypeProto(TensorType = tensor))

let private initializer (name: string) (dims: int64 list) (values: float32[]) (offset: int) (count: int) =
    let t = TensorProto(Name = name, DataType = floatType)
    t.Dims.AddRange dims
    t.FloatData.AddRange(ArraySegment(values, offset, count))
    t

let private node (op: string) (inputs: string list) (output: string) =
    let n = NodeProto(OpType = op, Name = output)
    n.Input.AddRange inputs
    n.Output.Add output
    n

/// The ONNX model of one network: `theta` is its flat weight vector (Layout.fs order).
let model (layout: Layout) (theta: float32[]) : ModelProto =
    Check.arg "theta" (theta.Length = Layout.paramCount layout)
        $"theta has {theta.Length} values but layout {layout} has {Layout.paramCount layout} parameters."
    let depth = Layout.depth layout
    let graph = GraphProto(Name = $"weightflow-mlp-{layout}")
    graph.Input.Add(valueInfo inputName layout.Widths[0])
    graph.Output.Add(valueInfo outputName layout.Widths[depth])
    let mutable h = inputName
    for i in 0 .. depth - 1 do
        let nIn, nOut = Layout.dims layout i
        // Flat order: Wᵀ [in, out] row-major, exactly the right operand of x @ Wᵀ.
        graph.Initializer.Add(initializer $"w{i}" [ int64 nIn; int64 nOut ] theta (Layout.weightOffset layout i) (nIn * nOut))
        graph.Initializer.Add(initializer $"b{i}" [ int64 nOut ] theta (Layout.biasOffset layout i) nOut)
        let last = i = depth - 1
        graph.Node.Add(node "MatMul" [ h; $"w{i}" ] $"matmul{i}")
        let z = if last then outputName else $"z{i}"
        graph.Node.Add(node "Add" [ $"matmul{i}"; $"b{i}" ] z)
        if not last then graph.Node.Add(node "Relu" [ z ] $"h{i}")
        h <- $"h{i}"
    let m = ModelProto(IrVersion = irVersion, ProducerName = "WeightFlow", Graph = graph, DocString = $"MLP {layout} (ReLU), flat weights in WeightFlow's Layout order")
    m.OpsetImport.Add(OperatorSetIdProto(Domain = "", Version = opset))
    m

/// Writes one network's ONNX model (atomically, `Storage.writeAtomic`).
let writeOnnx (path: string) (layout: Layout) (theta: float32[]) =
    let m = model layout theta
    Storage.writeAtomic path (fun stream -> m.WriteTo stream)

/// Writes every network of `theta` [N, P] as `dir/{stem}-{i:D4}.onnx`; returns the paths in row order.
let writeAllOnnx (dir: string) (stem: string) (layout: Layout) (theta: torch.Tensor) : string[] =
    Check.arg "theta" (theta.dim () = 2L && theta.shape[1] = int64 (Layout.paramCount layout))
        $"theta must be [N, {Layout.paramCount layout}] for layout {layout}; got %A{theta.shape}."
    use cpu = theta.detach().cpu().to_type(torch.float32).contiguous()
    let all = cpu.data<float32>().ToArray()
    let p = Layout.paramCount layout
    [| for i in 0 .. int cpu.shape[0] - 1 ->
        let path = Path.Combine(dir, $"{stem}-{i:D4}.onnx")
        writeOnnx path layout all[i * p .. (i + 1) * p - 1]
        path |]

/// Writes every network of `theta` [N, P] as `dir/{stem}-{i:D4}.safetensors` with PyTorch's `nn.Sequential` names;
/// returns the paths in row order.
let writeAllSafetensors (dir: string) (stem: string) (layout: Layout) (theta: torch.Tensor) : string[] =
    Check.arg "theta" (theta.dim () = 2L && theta.shape[1] = int64 (Layout.paramCount layout))
        $"theta must be [N, {Layout.paramCount layout}] for layout {layout}; got %A{theta.shape}."
    use cpu = theta.detach().cpu().to_type(torch.float32).contiguous()
    [| for i in 0 .. int cpu.shape[0] - 1 ->
        Scope.value (fun () ->
            let layers = Layout.unflatten layout (cpu.narrow(0L, int64 i, 1L))
            let tensors =
                layers |> List.indexed |> List.collect (fun (j, l) ->
                    // nn.Sequential numbers the ReLUs too: the Linear layers are modules 0, 2, 4, ...
                    [ $"{2 * j}.weight", l.W.squeeze(0L).contiguous(); $"{2 * j}.bias", l.B.squeeze(0L).contiguous() ])
            let path = Path.Combine(dir, $"{stem}-{i:D4}.safetensors")
            Storage.write path (Map.ofList [ "weightflow.kind", "network"; "layout", string layout; "format", "torch.nn.Sequential(Linear, ReLU, ..., Linear)" ]) tensors
            path) |]
