/// `weightflow export`: every network of a samples or zoo file as a standalone ONNX model or safetensors file
/// (IO/NetworkExport.fs), for applications that run models without WeightFlow.
module WeightFlow.Cli.ExportCommand

open System.IO
open Argu
open WeightFlow
open WeightFlow.Cli.Args

let export (args: ParseResults<ExportArgs>) : int =
    let path = args.GetResult ExportArgs.Weights
    let format = args.GetResult(ExportArgs.Format, Onnx)
    let out = args.GetResult ExportArgs.Out
    let json = args.Contains ExportArgs.Json
    // before reading anything: an existing file as --out failed only at the first write (exit 6, "already exists")
    if File.Exists out then
        Check.fail Check.ErrorKind.InvalidOption $"--out {out} is a file; export writes one file per network into a folder. Pass a folder (created if absent)."
    let stored = Storage.read path
    let kind = Storage.meta path stored "weightflow.kind"
    for _, t in stored.Tensors do t.Dispose()
    // A zoo's checkpoints or a samples file's networks: both are [N, P] flat weights of one layout.
    let layout, theta =
        if kind = "zoo" then
            let z = Zoo.load path
            z.Layout, z.Theta
        else
            let layout, theta, _ = Sampling.load path
            layout, theta
    use theta = theta
    let stem = Path.GetFileNameWithoutExtension path
    let files =
        match format with
        | Onnx -> NetworkExport.writeAllOnnx out stem layout theta
        | Safetensors -> NetworkExport.writeAllSafetensors out stem layout theta
    let formatName = match format with Onnx -> "onnx" | Safetensors -> "safetensors"
    if json then
        Render.json (dict [ "weights", box path; "format", box formatName; "layout", box (string layout); "count", box files.Length; "files", box files ])
    else
        Render.table $"Exported {files.Length} networks of {path}" [ "what"; "value" ]
            [ [ "format"; formatName ]
              [ "layout"; string layout ]
              [ "folder"; Path.GetFullPath out ]
              [ "first file"; (if files.Length > 0 then Path.GetFileName files[0] else "-") ]
              [ "inputs"; (match format with Onnx -> $"'{NetworkExport.inputName}' [batch, {layout.Widths[0]}] float32 -> '{NetworkExport.outputName}' [batch, {Array.last layout.Widths}]" | Safetensors -> "torch.nn.Sequential(Linear, ReLU, ..., Linear) state_dict") ] ]
    0
