/// PNG figures (ScottPlot 5: a maintained .NET plotting library that renders headless through SkiaSharp).
module WeightFlow.Cli.Plots

open System.IO
open ScottPlot

let private save (path: string) (plot: Plot) =
    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath path)) |> ignore
    // Render to a temp file and rename: a reader never sees a half-written PNG.
    let tmp = $"{path}.{System.Environment.ProcessId}.tmp.png"
    plot.SavePng(tmp, 900, 540) |> ignore
    WeightFlow.Storage.commit tmp path

/// Mean test accuracy of a zoo's checkpoints against the training iteration, with a ±1 std band over runs.
let zooTrajectory (path: string) (title: string) (steps: float[]) (mean: float[]) (std: float[]) =
    use plot = new Plot()
    let upper = Array.map2 (+) mean std
    let lower = Array.map2 (-) mean std
    let band = plot.Add.FillY(steps, upper, lower)
    band.FillStyle.Color <- Colors.SteelBlue.WithAlpha(0.25)
    band.LineStyle.Width <- 0.0f
    let line = plot.Add.Scatter(steps, mean)
    line.Color <- Colors.SteelBlue
    line.MarkerSize <- 0.0f
    line.LineWidth <- 2.0f
    line.LegendText <- "mean over runs ± 1 std"
    plot.Title title
    plot.XLabel "training iteration"
    plot.YLabel "test accuracy"
    plot.ShowLegend(Alignment.LowerRight) |> ignore
    save path plot

/// A histogram-like bar chart of values with labelled bins.
let histogram (path: string) (title: string) (xlabel: string) (series: (string * float[]) list) (bins: int) =
    let all = series |> List.collect (snd >> List.ofArray)
    let lo, hi = List.min all, List.max all
    let width = if hi > lo then (hi - lo) / float bins else 1.0
    use plot = new Plot()
    let palette = [| Colors.SteelBlue; Colors.OrangeRed; Colors.SeaGreen; Colors.Purple |]
    series |> List.iteri (fun k (name, xs) ->
        let counts = Array.zeroCreate<float> bins
        for x in xs do
            let b = min (bins - 1) (int ((x - lo) / width))
            counts[b] <- counts[b] + 1.0
        let centers = Array.init bins (fun b -> lo + (float b + 0.5) * width)
        let bars = plot.Add.Bars(centers, counts)
        bars.Color <- palette[k % palette.Length].WithAlpha(0.6)
        for bar in bars.Bars do bar.Size <- width * 0.9
        bars.LegendText <- name)
    plot.Title title
    plot.XLabel xlabel
    plot.YLabel "count"
    plot.ShowLegend(Alignment.UpperRight) |> ignore
    save path plot
