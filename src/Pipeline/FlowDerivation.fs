/// How the main job sizes a CSV task's flows from its data (issue 12 item 2: "any CSV task works without further
/// flags (layout and presets derived from the data, stated in the report)"). The flow presets (`TrainingConfig.cpu`)
/// were sized on UCI's 30-16-16-2 zoo (802 parameters) to a CPU budget per flow; a CSV task keeps every setting of
/// those presets and gets the same CPU budget per flow, spent on more iterations when its layout is smaller:
///
///   iterations = preset iterations × s,  s = clamp(P_ref / P, 1, MaxScale),  P_ref = 802 (UCI), P = the CSV layout's
///
/// (the warm-up stays the same fraction of the run). Why: a step of the Relational Transformer costs about ∝ P (its
/// edges are the weights; measured with one thread: 2,000 steps on a 4-16-16-3 zoo, 403 parameters, 129-148 CPU s
/// per RT flow, against 100-140 CPU s for 1,000 steps on UCI), so s keeps the main job's CPU time and its 15-minute
/// budget as on UCI; and on a small zoo the flows were under-trained at the UCI preset's 1,000 steps, not at their
/// capacity: on a seeded 4-feature, 3-class synthetic CSV (dev data, README "CSV tasks") 2,000 steps lowered the
/// calibrated CE of the Normalized RT's samples from 0.140 to 0.078 and the Geometric RT's from 0.603 to 0.177,
/// against the fitted Gaussian's 0.189. A layout larger than UCI's keeps the preset (s = 1: it costs more, never
/// less training); MaxScale bounds s for tiny layouts, whose steps no longer shrink with P (fixed per-step costs).
/// At UCI's own layout s = 1 exactly, so the derivation reproduces the UCI presets (a unit test checks it).
namespace WeightFlow

/// What the derivation chose for one layout (stated in the main job's report).
type FlowDerivation =
    { /// Parameters of the task's layout.
      Parameters: int
      /// Parameters of the layout the presets were sized on (UCI's 30-16-16-2).
      ReferenceParameters: int
      /// The factor s on every flow's preset iterations (and warm-up).
      IterationScale: float }

[<RequireQualifiedAccess>]
module FlowDerivation =
    /// The layout `TrainingConfig.cpu` was sized on: UCI's (ZooConfig.uci).
    let referenceLayout = ZooConfig.uci.Layout

    /// The largest factor on the preset iterations (a layout of P_ref / 4 = 200 parameters or fewer).
    let maxScale = 4.0

    /// The derivation for a task's layout (see the module summary).
    let derive (layout: Layout) : FlowDerivation =
        let p = Layout.paramCount layout
        let pRef = Layout.paramCount referenceLayout
        { Parameters = p; ReferenceParameters = pRef
          IterationScale = float pRef / float p |> max 1.0 |> min maxScale }

    /// A flow's training settings under the derivation: iterations and warm-up times s (rounded, at least 1); every
    /// other setting as given. s = 1 returns the settings unchanged.
    let apply (d: FlowDerivation) (c: TrainingConfig) : TrainingConfig =
        if d.IterationScale = 1.0 then c
        else
            let scale (n: int) = max 1 (int (System.Math.Round(float n * d.IterationScale)))
            { c with
                Iterations = scale c.Iterations
                Schedule = match c.Schedule with WarmupCosine w -> WarmupCosine (scale w) | s -> s }

    /// One sentence for the report.
    let describe (d: FlowDerivation) : string =
        let s = d.IterationScale.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)
        $"Flows derived from the data (FlowDerivation): every setting of the CPU presets, which were sized on UCI's {d.ReferenceParameters}-parameter networks, and the same CPU budget per flow, spent on iterations × s with s = clamp({d.ReferenceParameters} / {d.Parameters} parameters, 1, {maxScale}) = {s} (the warm-up scaled alike; the stages table lists each flow's iterations)."
