/// Reports of the main job and the reproductions (issue 12 items 2-4): PNG figures (ScottPlot 5, headless through
/// SkiaSharp) and markdown tables. In the core, not the CLI, so that the CLI, the facade and scripts write the same
/// report from the same result records. Every file is written atomically (temp file + rename).
namespace WeightFlow

open System
open System.Globalization
open System.IO
open System.Text
open ScottPlot

[<RequireQualifiedAccess>]
module Figures =
    let private palette =
        [| Colors.SteelBlue; Colors.OrangeRed; Colors.SeaGreen; Colors.Purple; Colors.DarkGoldenRod; Colors.Teal
           Colors.Crimson; Colors.SlateGray; Colors.Olive; Colors.Sienna; Colors.Navy; Colors.DeepPink |]

    /// The i-th colour of the figures' palette.
    let color (i: int) = palette[i % palette.Length]

    /// Writes a plot as a PNG `width` pixels wide, atomically (a reader never sees a half-written file).
    let private saveAt (width: int) (path: string) (plot: Plot) =
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath path)) |> ignore
        let tmp = $"{path}.{Environment.ProcessId}.tmp.png"
        plot.SavePng(tmp, width, 560) |> ignore
        Storage.commit tmp path

    /// Writes a plot as a PNG, atomically (a reader never sees a half-written file).
    let save (path: string) (plot: Plot) = saveAt 900 path plot

    let private label (title: string) (xlabel: string) (ylabel: string) (plot: Plot) =
        plot.Title title
        plot.XLabel xlabel
        plot.YLabel ylabel

    let private finish (path: string) (title: string) (xlabel: string) (ylabel: string) (legend: Alignment) (plot: Plot) =
        label title xlabel ylabel plot
        plot.ShowLegend(legend) |> ignore
        save path plot

    /// `finish` with the legend beside the data, on a wider canvas (many series and reference lines).
    let private finishLegendRight (path: string) (title: string) (xlabel: string) (ylabel: string) (plot: Plot) =
        label title xlabel ylabel plot
        plot.ShowLegend(Edge.Right) |> ignore
        saveAt 1200 path plot

    /// Overlaid histograms of several series with shared bins, and dashed vertical reference lines (`marks`, e.g.
    /// the thesis' values; the bins span them too).
    let histogramWith (path: string) (title: string) (xlabel: string) (series: (string * float[]) list) (bins: int) (marks: (string * float) list) =
        let all = (series |> List.collect (snd >> List.ofArray)) @ (marks |> List.map snd) |> List.filter Double.IsFinite
        let lo, hi = (if all.IsEmpty then 0.0, 1.0 else List.min all, List.max all)
        let width = if hi > lo then (hi - lo) / float bins else 1.0
        use plot = new Plot()
        series |> List.iteri (fun k (name, xs) ->
            let counts = Array.zeroCreate<float> bins
            for x in xs do
                if Double.IsFinite x then
                    let b = min (bins - 1) (max 0 (int ((x - lo) / width)))
                    counts[b] <- counts[b] + 1.0
            let centers = Array.init bins (fun b -> lo + (float b + 0.5) * width)
            let bars = plot.Add.Bars(centers, counts)
            bars.Color <- (color k).WithAlpha(0.6)
            for bar in bars.Bars do bar.Size <- width * 0.9
            bars.LegendText <- name)
        marks |> List.iteri (fun k (name, x) ->
            let l = plot.Add.VerticalLine(x)
            l.Color <- (color k).WithAlpha(0.9)
            l.LinePattern <- LinePattern.Dashed
            l.LineWidth <- 2.0f
            l.LegendText <- name)
        finish path title xlabel "count" Alignment.UpperRight plot

    /// Overlaid histograms of several series with shared bins.
    let histogram (path: string) (title: string) (xlabel: string) (series: (string * float[]) list) (bins: int) =
        histogramWith path title xlabel series bins []

    /// One marker per named set at (x, y), each its own legend entry.
    let scatter (path: string) (title: string) (xlabel: string) (ylabel: string) (points: (string * float * float) list) =
        use plot = new Plot()
        points |> List.iteri (fun k (name, x, y) ->
            let s = plot.Add.Scatter([| x |], [| y |])
            s.Color <- color k
            s.MarkerSize <- 12.0f
            s.LineWidth <- 0.0f
            s.LegendText <- name)
        finish path title xlabel ylabel Alignment.LowerLeft plot

    /// Lines y(x) per named series (markers at the points), the legend in the given corner; `references` are dashed
    /// horizontal lines (e.g. the thesis' values).
    let private linesWithLegend (legend: Alignment) (path: string) (title: string) (xlabel: string) (ylabel: string)
                                (series: (string * float[] * float[]) list) (references: (string * float) list) =
        use plot = new Plot()
        series |> List.iteri (fun k (name, xs, ys) ->
            let s = plot.Add.Scatter(xs, ys)
            s.Color <- color k
            s.MarkerSize <- 7.0f
            s.LineWidth <- 2.0f
            s.LegendText <- name)
        references |> List.iter (fun (name, y) ->
            let l = plot.Add.HorizontalLine(y)
            l.Color <- Colors.Black.WithAlpha(0.6)
            l.LinePattern <- LinePattern.Dashed
            l.LineWidth <- 1.5f
            l.LegendText <- name)
        finish path title xlabel ylabel legend plot

    /// Lines y(x) per named series (markers at the points), the legend lower right (rising curves: accuracy);
    /// `references` are dashed horizontal lines (e.g. the thesis' values).
    let lines path title xlabel ylabel series references = linesWithLegend Alignment.LowerRight path title xlabel ylabel series references

    /// `lines` with the legend upper right, for falling curves (a loss), where lower right would hide them.
    let linesFalling path title xlabel ylabel series references = linesWithLegend Alignment.UpperRight path title xlabel ylabel series references

    /// Lines y(x) per named series against a count on a log2 axis: `series` x values are log2 of the counts
    /// (`Reproduce.stepsSeries`), the ticks read as the counts (8, 16, ... 512 Euler steps); the legend stands to the
    /// right of the data, where it cannot hide a line (six series and reference lines in Figs. 7.3-7.4);
    /// `references` are dashed horizontal lines (the thesis' values, ours for comparison).
    let linesLog2 (path: string) (title: string) (xlabel: string) (ylabel: string) (series: (string * float[] * float[]) list)
                  (references: (string * float) list) =
        use plot = new Plot()
        // a series named "<another series' name>, ..." (its guided variant) takes that series' colour, dashed
        let bases = series |> List.map (fun (n, _, _) -> n) |> List.filter (fun n -> not (series |> List.exists (fun (m, _, _) -> n.StartsWith(m + ", "))))
        series |> List.iter (fun (name, xs, ys) ->
            let b = bases |> List.tryFindIndex (fun m -> name = m || name.StartsWith(m + ", ")) |> Option.defaultValue 0
            let s = plot.Add.Scatter(xs, ys)
            s.Color <- color b
            s.MarkerSize <- 7.0f
            s.LineWidth <- 2.0f
            if not (List.contains name bases) then s.LinePattern <- LinePattern.Dashed
            s.LegendText <- name)
        references |> List.iteri (fun k (name, y) ->
            let l = plot.Add.HorizontalLine(y)
            l.Color <- (if k = 0 then Colors.Black else Colors.DimGray).WithAlpha(0.7)
            l.LinePattern <- (if k = 0 then LinePattern.Dashed else LinePattern.Dotted)
            l.LineWidth <- 1.5f
            l.LegendText <- name)
        let ticks =
            series |> List.collect (fun (_, xs, _) -> List.ofArray xs) |> List.distinct |> List.sort
            |> List.map (fun x -> Tick(x, string (int (Math.Round(2.0 ** x))))) |> Array.ofList
        if ticks.Length > 0 then plot.Axes.Bottom.TickGenerator <- TickGenerators.NumericManual(ticks)
        finishLegendRight path title xlabel ylabel plot

    /// Lines y(x) per named series against a count on a log10 axis (`series` and `points` x values are log10 of the
    /// counts; the ticks read as the counts, e.g. flow parameters in Fig. 7.7); `points` are named markers without a
    /// line (values quoted at their own x, e.g. the thesis'); `references` are horizontal lines, each in its own
    /// colour and dashed or dotted in turn (baselines and controls, several in one panel); the legend stands to the
    /// right of the data.
    let linesLog10 (path: string) (title: string) (xlabel: string) (ylabel: string) (series: (string * float[] * float[]) list)
                   (points: (string * float * float) list) (references: (string * float) list) =
        use plot = new Plot()
        series |> List.iteri (fun k (name, xs, ys) ->
            let s = plot.Add.Scatter(xs, ys)
            s.Color <- color k
            s.MarkerSize <- 8.0f
            s.LineWidth <- 2.0f
            s.LegendText <- name)
        points |> List.iteri (fun k (name, x, y) ->
            let s = plot.Add.Scatter([| x |], [| y |])
            s.Color <- color (series.Length + k)
            s.MarkerSize <- 11.0f
            s.MarkerShape <- MarkerShape.FilledDiamond
            s.LineWidth <- 0.0f
            s.LegendText <- name)
        references |> List.iteri (fun k (name, y) ->
            if Double.IsFinite y then
                let l = plot.Add.HorizontalLine(y)
                l.Color <- (color (series.Length + points.Length + k)).WithAlpha(0.85)
                l.LinePattern <- (if k % 2 = 0 then LinePattern.Dashed else LinePattern.Dotted)
                l.LineWidth <- 1.5f
                l.LegendText <- name)
        let xs = (series |> List.collect (fun (_, xs, _) -> List.ofArray xs)) @ (points |> List.map (fun (_, x, _) -> x))
        let ticks =
            xs |> List.distinct |> List.sort
            |> List.map (fun x -> Tick(x, Math.Round(10.0 ** x).ToString("N0", CultureInfo.InvariantCulture))) |> Array.ofList
        if ticks.Length > 0 then
            plot.Axes.Bottom.TickGenerator <- TickGenerators.NumericManual(ticks)
            let lo, hi = List.min xs, List.max xs
            let pad = max 0.05 ((hi - lo) * 0.08)
            // the y range from the data (the reference lines included) first, then x: the ticks' span plus a margin
            plot.Axes.AutoScale()
            plot.Axes.SetLimitsX(lo - pad, hi + pad)
        finishLegendRight path title xlabel ylabel plot

    /// One bar per named value, with dashed reference lines.
    let bars (path: string) (title: string) (ylabel: string) (values: (string * float) list) (references: (string * float) list) =
        use plot = new Plot()
        values |> List.iteri (fun k (name, v) ->
            let b = plot.Add.Bar(float k, (if Double.IsFinite v then v else 0.0))
            b.Color <- color k
            b.LegendText <- name)
        references |> List.iter (fun (name, y) ->
            let l = plot.Add.HorizontalLine(y)
            l.Color <- Colors.Black.WithAlpha(0.6)
            l.LinePattern <- LinePattern.Dashed
            l.LegendText <- name)
        let ticks = values |> List.mapi (fun k (name, _) -> Tick(float k, name)) |> Array.ofList
        plot.Axes.Bottom.TickGenerator <- TickGenerators.NumericManual(ticks)
        finish path title "" ylabel Alignment.UpperRight plot

[<RequireQualifiedAccess>]
module Report =
    /// A number as text that reads back to the same float (round-trip "R", invariant culture): CSV cells, cache keys.
    let inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

    /// A number with 3 decimals (invariant culture), for report tables.
    let f3 (x: float) = x.ToString("F3", CultureInfo.InvariantCulture)

    /// Whether a stage's result file exists and its first line is `key` (the settings it was computed with), so a
    /// re-run with the same settings reads it back instead of recomputing.
    let cached (path: string) (key: string) =
        File.Exists path && (use r = new StreamReader(path) in r.ReadLine() = key)

    /// A number with 4 decimals, "–" when absent or not finite.
    let f4 (x: float) = if Double.IsFinite x then x.ToString("F4", CultureInfo.InvariantCulture) else "–"
    let opt (fmt: float -> string) (x: float option) = x |> Option.map fmt |> Option.defaultValue "–"

    /// A markdown table.
    let markdownTable (header: string list) (rows: string list list) : string =
        let line (cells: string list) = "| " + String.Join(" | ", cells |> List.map (fun c -> c.Replace("|", "\\|"))) + " |"
        let sb = StringBuilder()
        sb.AppendLine(line header).AppendLine(line (header |> List.map (fun _ -> "---"))) |> ignore
        for r in rows do sb.AppendLine(line r) |> ignore
        sb.ToString()

    /// A CSV (comma-separated, quoted where needed).
    let csv (header: string list) (rows: string list list) : string =
        let cell (c: string) = if c.Contains ',' || c.Contains '"' then "\"" + c.Replace("\"", "\"\"") + "\"" else c
        let sb = StringBuilder()
        for r in header :: rows do sb.AppendLine(String.Join(",", r |> List.map cell)) |> ignore
        sb.ToString()

    /// Writes text atomically.
    let writeText (path: string) (text: string) =
        Storage.writeTextAtomic path text

    /// The columns of a quality table (issue 12: accuracy mean/min/std, calibrated and raw CE, BMA, diversity,
    /// fidelity, novelty).
    let qualityHeader =
        [ "networks"; "n"; "accuracy mean ± std"; "min"; "CE raw"; "CE calibrated"; "BMA k: acc / NLL"; "diversity (JSD)"
          "fidelity (floor)"; "sliced W (floor)"; "novelty ratio" ]

    let qualityCells (r: Evaluation.Row) =
        [ r.Name; string r.Count; $"{f4 r.AccuracyMean} ± {f4 r.AccuracyStd}"; f4 r.AccuracyMin; f4 r.CrossEntropy
          f4 r.CalibratedCrossEntropy; $"{r.Bma.K}: {f4 r.Bma.Accuracy} / {f4 r.Bma.Nll}"
          opt (fun d -> d.ToString("F5", CultureInfo.InvariantCulture)) r.Diversity
          (match r.Fidelity, r.FidelityFloor with
           | Some v, Some fl -> $"{f4 v} ({f4 fl})"
           | None, Some fl -> $"– ({f4 fl})"
           | _ -> "–")
          (match r.SlicedWasserstein, r.SlicedWassersteinFloor with
           | Some v, Some fl -> $"{f4 v} ({f4 fl})"
           | None, Some fl -> $"– ({f4 fl})"
           | _ -> "–")
          opt (fun x -> x.ToString("F3", CultureInfo.InvariantCulture)) r.NoveltyRatio ]

    /// Rows as a markdown quality table.
    let qualityTable (rows: Evaluation.Row list) = markdownTable qualityHeader (rows |> List.map qualityCells)

    /// Rows as CSV, numbers in full precision.
    let qualityCsv (rows: (string * Evaluation.Row) list) =
        let o (x: float option) = x |> Option.map inv |> Option.defaultValue ""
        csv [ "group"; "name"; "count"; "accuracy_mean"; "accuracy_min"; "accuracy_std"; "ce_raw"; "ce_calibrated"
              "bma_k"; "bma_accuracy"; "bma_nll"; "diversity"; "mmd2"; "mmd2_floor"; "sliced_w"; "sliced_w_floor"
              "nearest_training_median"; "novelty_ratio" ]
            [ for g, r in rows ->
                [ g; r.Name; string r.Count; inv r.AccuracyMean; inv r.AccuracyMin; inv r.AccuracyStd; inv r.CrossEntropy
                  inv r.CalibratedCrossEntropy; string r.Bma.K; inv r.Bma.Accuracy; inv r.Bma.Nll; o r.Diversity
                  o r.Fidelity; o r.FidelityFloor; o r.SlicedWasserstein; o r.SlicedWassersteinFloor
                  o r.NearestTrainingMedian; o r.NoveltyRatio ] ]

    /// The standard figures of a set of quality rows, written under `dir` with `prefix`; returns the files.
    /// - accuracy against calibrated CE (one marker per set: its means);
    /// - BMA accuracy against k (log2 axis);
    /// - novelty ratio bars with the reference lines 1 (as new as a new training run) and 0.5 (the issue's bar).
    let qualityFigures (dir: string) (prefix: string) (title: string) (rows: Evaluation.Row list) : string list =
        let scatterPath = Path.Combine(dir, $"{prefix}-accuracy-vs-ce.png")
        Figures.scatter scatterPath $"{title}: mean test accuracy against calibrated cross-entropy" "calibrated test cross-entropy (mean)"
            "test accuracy (mean)" [ for r in rows -> r.Name, r.CalibratedCrossEntropy, r.AccuracyMean ]
        let bmaPath = Path.Combine(dir, $"{prefix}-bma.png")
        Figures.lines bmaPath $"{title}: Bayesian model averaging (probabilities, eq. 2.1)" "log2 k (networks averaged)" "BMA test accuracy"
            [ for r in rows do
                if r.BmaCurve.Length > 1 then
                    yield r.Name, (r.BmaCurve |> List.map (fun p -> Math.Log2(float p.K)) |> Array.ofList),
                          (r.BmaCurve |> List.map (fun p -> p.Accuracy) |> Array.ofList) ] []
        let novel = rows |> List.choose (fun r -> r.NoveltyRatio |> Option.map (fun v -> r.Name, v))
        let noveltyPath = Path.Combine(dir, $"{prefix}-novelty.png")
        if not novel.IsEmpty then
            Figures.bars noveltyPath $"{title}: novelty ratio (median nearest-training distance / held-out runs')" "novelty ratio"
                novel [ "1: as new as a new training run", 1.0; "0.5: the issue's bar", 0.5 ]
        [ scatterPath; bmaPath ] @ (if novel.IsEmpty then [] else [ noveltyPath ])
