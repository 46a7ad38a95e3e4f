/// Step transformers: functions from a step to a step (STYLE §8.5), so stochasticity and endpoint handling compose
/// with any solver instead of being flags inside one.
[<RequireQualifiedAccess>]
module WeightFlow.Transform

open TorchSharp

/// Stochastic sampling (thesis §6.5, after Karras et al. 2022): noise of standard deviation Eps·sqrt(|dt|) added to
/// the state *before* each step whose start time t lies in the window [Start, Stop).
[<NoEquality; NoComparison>]
type Noise =
    { /// Noise scale ε: the added variance per unit time is ε² (so the total is ε²·(Stop - Start) whatever the
      /// step count; the anchor added ε² per grid point in t > 0.8, unscaled, pitfall P4/P13).
      Eps: float
      /// Window start a (inclusive) on the step's start time.
      Start: float
      /// Window end b (exclusive).
      Stop: float }

/// Checks a noise configuration: ε ≥ 0 and finite, 0 ≤ a < b ≤ 1.
let checkNoise (n: Noise) =
    if not (n.Eps >= 0.0) || System.Double.IsInfinity n.Eps then
        invalidArg "noise" $"The noise scale must be finite and >= 0; got {n.Eps}."
    if not (0.0 <= n.Start && n.Start < n.Stop && n.Stop <= 1.0) then
        invalidArg "window" $"The noise window [a, b) needs 0 <= a < b <= 1; got [{n.Start}, {n.Stop}). Example: --window 0.8,1."

/// The anchor code's stochastic sampling, for parity (anchors §6, pitfalls P4, P13): noise of standard deviation ε,
/// *not* scaled by sqrt(dt), added before every step whose grid time lies strictly after `after` (the anchor: t > 0.8),
/// so the total added variance is ε² x (the number of such steps) and grows with the step count (19 points for the
/// anchor's 100 grid points, 20 for our 100 steps). On the uniform grid of K steps (dt = 1/K) this is `stochastic`
/// with ε' = ε·sqrt(K) (ε'²·dt = ε² per step) and the window starting half a step after `after` (so a grid point at
/// exactly `after` stays outside, as the anchor's strict inequality has it). Our default (`Noise`, ε²·(b - a) in
/// total whatever K) is the discretization of dx = ε dW, which converges as K grows; this one does not. Thesis §7.1
/// (Fig. 7.1) used ε = 0.05 this way with 100 steps.
let perGridPoint (eps: float) (after: float) (steps: int) : Noise =
    if steps < 1 then invalidArg "steps" $"The anchor noise needs the step count K >= 1 of the uniform grid; got {steps}."
    if not (0.0 <= after && after < 1.0) then invalidArg "after" $"The anchor noise starts after a time in [0, 1); got {after}."
    { Eps = eps * sqrt (float steps); Start = min (after + 0.5 / float steps) (after + (1.0 - after) / 2.0); Stop = 1.0 }

/// The step with noise injected before it inside the window: x̃ = exp_x(P_x(ε·sqrt(|dt|)·z)), z ~ N(0, I) drawn
/// from `gen` (CPU, float32, then moved to x's device and dtype, so one seed gives one result on any device); on
/// Euclidean space x̃ = x + ε·sqrt(|dt|)·z. The step then runs from x̃, so an x1-prediction field
/// (`TowardsPrediction`) steers the noise back towards the data; steps outside the window draw nothing.
let stochastic (m: Manifold) (noise: Noise) (gen: torch.Generator) (step: Step) : Step =
    checkNoise noise
    fun field t dt x ->
        if noise.Eps > 0.0 && t >= noise.Start && t < noise.Stop then
            use z = torch.randn(x.shape, generator = gen, dtype = torch.float32)
            let u = z.``to``(x.dtype, x.device) * (noise.Eps * sqrt (abs dt))
            let xn = Manifold.expmap m x (Manifold.proju m x u)
            step field t dt xn
        else
            step field t dt x

/// Keeps a step from evaluating the field at t = 1, where an x1-prediction field divides by 1 - t (pitfall P13).
/// A forward step that would reach t = 1 (Heun's corrector, RK4's last stage) becomes one Riemannian Euler step
/// evaluated at its start t < 1 (Karras et al. 2022, Alg. 1, skip the 2nd-order correction at the last step); on
/// the x1-prediction field it lands exactly on the model's prediction x̂1(t, x). A backward step starting at t = 1
/// (likelihoods) becomes one Euler step evaluated at its end t + dt < 1 at the current state. Both have local error
/// O(dt²) in one step only: Heun's global order 2 is kept, RK4's drops to 2 (the sampler prefers exactness at the
/// data end over a singular evaluation). Other steps are unchanged.
let avoidOne (m: Manifold) (step: Step) : Step =
    fun field t dt x ->
        if dt > 0.0 && t + dt >= 1.0 then
            Solver.riemannianEuler m field t dt x
        elif dt < 0.0 && t >= 1.0 then
            let v = field (Field.times x (t + dt)) x
            Manifold.expmap m x (Manifold.proju m x v * dt)
        else
            step field t dt x
