module WeightFlow.Tests.TestNetworkExport

open System.IO
open Expecto
open Onnx
open TorchSharp
open WeightFlow

// ONNX Runtime runs these graphs against WeightFlow's logits in the C# suite (ExportTests); here: the graph's shape,
// the weights' placement and the checks, without a runtime.
[<Tests>]
let tests =
    testList "NetworkExport" [
        test "an MLP becomes MatMul, Add and ReLU nodes with Wᵀ [in, out] and b as initializers" {
            let layout = Layout.parse "3-4-2"
            let theta = Array.init (Layout.paramCount layout) float32
            let m = NetworkExport.model layout theta
            Expect.equal [ for n in m.Graph.Node -> n.OpType ] [ "MatMul"; "Add"; "Relu"; "MatMul"; "Add" ] "nodes in order"
            Expect.equal (m.Graph.Output[0].Name) NetworkExport.outputName "output"
            let init name = m.Graph.Initializer |> Seq.find (fun t -> t.Name = name)
            Expect.equal (List.ofSeq (init "w0").Dims) [ 3L; 4L ] "first layer Wᵀ is [in, out]"
            Expect.equal (List.ofSeq (init "w0").FloatData) [ for i in 0 .. 11 -> float32 i ] "Wᵀ is the flat vector's first 12 values"
            Expect.equal (List.ofSeq (init "b1").FloatData) [ float32 (Layout.biasOffset layout 1); float32 (Layout.biasOffset layout 1 + 1) ] "the last bias"
            Expect.equal m.OpsetImport[0].Version NetworkExport.opset "opset"
        }
        test "a written model parses back; a vector of the wrong length is refused" {
            let layout = Layout.parse "3-4-2"
            let path = Path.Combine(Path.GetTempPath(), $"wf-export-{System.Guid.NewGuid():N}.onnx")
            try
                NetworkExport.writeOnnx path layout (Array.create (Layout.paramCount layout) 0.5f)
                let back = ModelProto.Parser.ParseFrom(File.ReadAllBytes path)
                Expect.equal back.Graph.Initializer.Count 4 "two weights and two biases"
            finally File.Delete path
            Expect.throwsT<System.ArgumentException> (fun () -> NetworkExport.model layout (Array.zeroCreate 5) |> ignore) "wrong length"
        }
        test "writeAllOnnx writes one file per row" {
            let layout = Layout.parse "3-4-2"
            let dir = Path.Combine(Path.GetTempPath(), $"wf-export-{System.Guid.NewGuid():N}")
            try
                use theta = torch.randn(3L, int64 (Layout.paramCount layout))
                let files = NetworkExport.writeAllOnnx dir "net" layout theta
                Expect.equal (files |> Array.map Path.GetFileName) [| "net-0000.onnx"; "net-0001.onnx"; "net-0002.onnx" |] "names"
            finally if Directory.Exists dir then Directory.Delete(dir, true)
        }
    ]
