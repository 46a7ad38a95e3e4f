module WeightFlow.Tests.TestManifold

open System
open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests.Generators

let private f64 = torch.float64

/// A manifold under test and the tangent norm below which expmap is injective (π·r for spheres of radius r).
type Subject = { M: Manifold; Injectivity: float }

/// Keeps generated geodesics this far (in angle) from antipodal points, where logmap is undefined; at π - 0.1 the
/// log map's conditioning is 1/sin(0.1) ≈ 10, harmless for the float64 tolerance.
let private delta = 0.1

/// float64 laws of closed-form maps (Tolerance.float64Law: eps64 amplified by at most ~1e4).
let private tol = Tolerance.float64Law

let private ambient (g: torch.Generator) (b: int) (dim: int) =
    torch.randn([| int64 b; int64 dim |], generator = g, dtype = f64)

let private point (m: Manifold) g b = Manifold.projx m (ambient g b m.Dim)

let private tangent (m: Manifold) g (x: Tensor) = Manifold.proju m x (ambient g (int x.shape[0]) m.Dim)

/// A tangent at x whose norm is drawn uniformly in [0, maxNorm) per row.
let private tangentUpTo (m: Manifold) g (x: Tensor) (maxNorm: float) =
    let v = tangent m g x
    let rho = torch.rand([| x.shape[0] |], generator = g, dtype = f64) * maxNorm
    v * (rho / (Manifold.norm m x v).clamp_min(scalar 1e-300)).unsqueeze(1L)

/// A short tangent whose norm spans 9 decades (scale 10^-k for k = 0..8), so the Taylor branches are exercised.
let private shortTangent (s: Subject) g (x: Tensor) (k: byte) =
    tangentUpTo s.M g x ((s.Injectivity - delta) * Math.Pow(10.0, -(float (int k % 9))))

let private batch (b: byte) = 1 + int b % 4

/// One law over the manifolds `build` makes from generated shapes; the tensors come from the generated seed.
let private law (name: string) (build: 'shape -> Subject) (body: Subject -> torch.Generator -> int -> byte -> unit) =
    testProp name (fun (shape: 'shape) (seed: int) (b: byte) (k: byte) ->
        let s = build shape
        use g = Scope.Rng.create (int64 seed)
        Scope.value (fun () -> body s g (batch b) k))

let private expectBelow (bound: float) (values: Tensor) (message: string) =
    let worst = values.abs().max().ToDouble()
    if not (worst <= bound) then failtestf "%s: largest value %g exceeds %g" message worst bound

/// The geoopt-style battery of laws (STYLE §8.10), run over every manifold.
let manifoldLaws (name: string) (build: 'shape -> Subject) : Test =
    testList name [
        law "projx is idempotent, lands on the manifold, and Violation is the distance to it" build (fun s g b _ ->
            let m = s.M
            let a = ambient g b m.Dim * 3.0
            let p = Manifold.projx m a
            Expect.allClose tol (Manifold.projx m p) p "projx (projx a) = projx a"
            expectBelow tol (Manifold.violation m p) "Violation (projx a)"
            Expect.allClose tol (Manifold.violation m a) (Manifold.rowNorm (a - p) false) "Violation a = ‖a - projx a‖")
        law "random points lie on the manifold (float32)" build (fun s g b _ ->
            // Normalizing float32 Gaussians: each row's norm is off by a few float32 eps (1.2e-7), times the radius.
            let r = Manifold.random s.M g torch.CPU b
            Expect.equal (T.shape r) [| b; s.M.Dim |] "shape [B, Dim]"
            Expect.equal r.dtype torch.float32 "float32"
            expectBelow Tolerance.float32Sum (Manifold.violation s.M r) "Violation (random)"
            // Two draws from one generator differ (a random point that ignores the generator would not).
            Expect.isFalse (T.equal r (Manifold.random s.M g torch.CPU b)) "successive draws differ")
        law "proju is an orthogonal projector onto the tangent space" build (fun s g b _ ->
            let m = s.M
            let x = point m g b
            let a = ambient g b m.Dim
            let u = Manifold.proju m x a
            Expect.allClose tol (Manifold.proju m x u) u "proju x (proju x a) = proju x a"
            Expect.allClose tol (((a - u) * u).sum(1L)) (torch.zeros(int64 b, dtype = f64)) "a - proju a ⟂ proju a"
            // Tangent: x + εu leaves the manifold only to second order, ‖u‖²ε²/(2r) ≤ ε²‖u‖² for r ≥ 1/2, while a
            // normal component would give a first-order violation ~ε.
            let eps = 1e-4
            let bound = (u * u).sum(1L) * (eps * eps) + 1e-14
            let v = Manifold.violation m (x + u * eps)
            if not (v.le(bound).all().ToBoolean()) then failtestf "x + εu leaves the manifold to first order: %A" (T.toArray64 v))
        law "expmap stays on the manifold, for long tangents too" build (fun s g b _ ->
            let m = s.M
            let x = point m g b
            let u = tangentUpTo m g x 10.0
            expectBelow tol (Manifold.violation m (Manifold.expmap m x u)) "Violation (expmap x u)")
        law "logmap inverts expmap below the injectivity radius" build (fun s g b k ->
            let m = s.M
            let x = point m g b
            let v = shortTangent s g x k
            let y = Manifold.expmap m x v
            Expect.allClose tol (Manifold.logmap m x y) v "logmap x (expmap x v) = v"
            Expect.allClose tol (Manifold.expmap m x (Manifold.logmap m x y)) y "expmap x (logmap x y) = y")
        law "logmap x x = 0" build (fun s g b _ ->
            let x = point s.M g b
            Expect.allClose tol (Manifold.logmap s.M x x) (torch.zeros_like x) "logmap x x")
        law "dist (x, expmap x v) = ‖v‖ below the injectivity radius" build (fun s g b k ->
            let m = s.M
            let x = point m g b
            let v = shortTangent s g x k
            Expect.allClose tol (Manifold.dist m x (Manifold.expmap m x v)) (Manifold.norm m x v) "dist = ‖v‖")
        law "dist is symmetric, nonnegative and zero on the diagonal" build (fun s g b _ ->
            let m = s.M
            let x = point m g b
            let y = point m g b
            let dxy = Manifold.dist m x y
            Expect.allClose tol dxy (Manifold.dist m y x) "dist x y = dist y x"
            Expect.isTrue (dxy.ge(scalar 0.0).all().ToBoolean()) "dist >= 0"
            Expect.allClose tol (Manifold.dist m x x) (torch.zeros(int64 b, dtype = f64)) "dist x x = 0")
        law "transp is parallel transport along the geodesic" build (fun s g b k ->
            let m = s.M
            let x = point m g b
            let y = Manifold.expmap m x (shortTangent s g x k)
            let u = tangent m g x
            let w = tangent m g x
            let tu = Manifold.transp m x y u
            let tw = Manifold.transp m x y w
            Expect.allClose tol (Manifold.proju m y tu) tu "transported vectors are tangent at y"
            Expect.allClose tol (Manifold.inner m y tu tw) (Manifold.inner m x u w) "⟨Tu, Tw⟩_y = ⟨u, w⟩_x"
            // A geodesic's velocity is parallel along it: this singles out parallel transport among isometries.
            Expect.allClose tol (Manifold.transp m x y (Manifold.logmap m x y)) ((Manifold.logmap m y x).neg()) "T (log_x y) = -log_y x")
        law "batched results equal row-by-row results" build (fun s g _ k ->
            // Two rows suffice to catch a reduction or a reshape that mixes networks; logmap covers the vector
            // path and dist the reductions. The same arithmetic per row: only reduction order may differ.
            let m = s.M
            let x = point m g 2
            let y = Manifold.expmap m x (shortTangent s g x k)
            let row (t: Tensor) i = t.narrow(0L, int64 i, 1L)
            let rows (f: int -> Tensor) = torch.cat([| f 0; f 1 |], 0L)
            Expect.allClose 1e-12 (Manifold.logmap m x y) (rows (fun i -> Manifold.logmap m (row x i) (row y i))) "logmap"
            Expect.allClose 1e-12 (Manifold.dist m x y) (rows (fun i -> Manifold.dist m (row x i) (row y i))) "dist")
        law "the gradient of dist² near 0 matches finite differences and -2 logmap" build (fun s g b _ ->
            let m = s.M
            let x = point m g b
            // Distances 1e-3 .. 1e-2, where geoopt's float32 clamp (anchors P7) would floor dist and zero its gradient.
            let t = tangent m g x
            let rho = torch.rand([| int64 b |], generator = g, dtype = f64) * 9e-3 + 1e-3
            let v = t * (rho / Manifold.norm m x t).unsqueeze(1L)
            let y0 = Manifold.expmap m x v
            let y = y0.detach().requires_grad_(true)
            let f = (Manifold.dist m x y).pow(scalar 2.0).sum()
            let grad = torch.autograd.grad([| f |], [| y |])[0]
            // Riemannian gradient of d²(x, ·) at y is -2 log_y x.
            Expect.allClose tol (Manifold.proju m y0 grad) ((Manifold.logmap m y0 x) * -2.0) "grad_y dist² = -2 log_y x"
            // Central differences along a random ambient direction: f is smooth here with third derivatives O(d),
            // so the truncation error is ~h² d ≈ 1e-14 and the rounding error eps64·d²/h ≈ 1e-14, against a
            // directional derivative of size ~2d ≥ 2e-3; 1e-8 leaves a wide margin and still catches a wrong factor.
            let h = 1e-6
            let dir = ambient g b m.Dim
            let dir = dir / Manifold.rowNorm dir true
            let fd =
                ((Manifold.dist m x (y0 + dir * h)).pow(scalar 2.0) - (Manifold.dist m x (y0 - dir * h)).pow(scalar 2.0)) / (2.0 * h)
            Expect.allClose 1e-8 ((grad * dir).sum(1L)) fd "directional derivative of dist² = central difference")
        law "geodesics hit their endpoints and move with the conditional velocity" build (fun s g b k ->
            let m = s.M
            let x0 = point m g b
            let x1 = Manifold.expmap m x0 (shortTangent s g x0 k)
            Expect.allClose tol (Path.geodesic m x0 x1 (torch.zeros(int64 b, dtype = f64))) x0 "x_0 = x0"
            Expect.allClose tol (Path.geodesic m x0 x1 (torch.ones(int64 b, dtype = f64))) x1 "x_1 = x1"
            let t = torch.rand([| int64 b |], generator = g, dtype = f64) * 0.9
            // Central difference in t: truncation h²‖γ'''‖/6 ≤ 1e-10·π³/6·r ≈ 1e-9 for π-long geodesics, rounding
            // eps64/h ≈ 1e-11; the tolerance 1e-8 sits above both and far below velocities of size ~‖log x0 x1‖.
            let h = 1e-5
            let fd = (Path.geodesic m x0 x1 (t + h) - Path.geodesic m x0 x1 (t - h)) / (2.0 * h)
            let xt = Path.geodesic m x0 x1 t
            Expect.allClose 1e-8 (Path.conditionalVelocity m xt x1 t) fd "d/dt x_t = log_{x_t}(x1) / (1 - t)")
    ]

// ---- Subjects -------------------------------------------------------------------------------------------------

let private euclidean (d: byte) = { M = Manifold.euclidean (1 + int d % 7); Injectivity = 5.0 }

let private sphere (groups: byte, dim: byte) = { M = Sphere.create (1 + int groups % 4) (2 + int dim % 5); Injectivity = Math.PI }

/// Radii 0.5 .. 3 (the proju law's second-order bound assumes r >= 1/2).
let private radius (r: byte) = 0.5 + float (int r % 6) * 0.5

let private sphereWithRadius (groups: byte, dim: byte, r: byte) =
    let r = radius r
    { M = Sphere.createWithRadius (1 + int groups % 3) (2 + int dim % 4) r; Injectivity = Math.PI * r }

let private productSegments (a: byte, b: byte, c: byte) =
    [ Sphere.create (1 + int a % 3) (2 + int b % 4)
      Manifold.euclidean (1 + int c % 5)
      Sphere.createWithRadius 1 (2 + int c % 3) 2.0 ]

let private product shape = { M = Product.create (productSegments shape); Injectivity = Math.PI }

/// A generated layout with every width except the output at least 2, so that every hidden neuron's sphere and
/// the last layer's sphere have dimension >= 1 (a single input would put the neuron on S^0, tested separately).
let private layoutOf (SmallLayout widths) =
    let w = Array.ofList widths
    Layout.create (w |> Array.mapi (fun i x -> if i < w.Length - 1 then max 2 x else x))

let private weightSpace (shape: SmallLayout) =
    let l = layoutOf shape
    let c = l.Widths[l.Widths.Length - 1]
    // Last layer on the sphere of radius √C (the thesis background chapter's choice, anchors P9) to exercise radii.
    { M = WeightSpace.ofLayoutWithRadius (sqrt (float c)) l; Injectivity = Math.PI }

// ---- "The product equals its factors" ------------------------------------------------------------------------

/// Each factor of a product paired with an extraction of its coordinates from the flat vector.
type private Factor = { Factor: Manifold; Take: Tensor -> Tensor }

/// The factors of Product.create, taken by offset.
let private segmentFactors (segments: Manifold list) =
    let offsets = List.scan (fun o (m: Manifold) -> o + m.Dim) 0 segments
    List.zip segments (List.take segments.Length offsets)
    |> List.map (fun (m, o) -> { Factor = m; Take = fun (x: Tensor) -> x.narrow(1L, int64 o, int64 m.Dim) })

/// The factors of the weight-space product, taken through Layout (independently of WeightSpace.groupedOrder): one
/// sphere per hidden neuron (a column of Wᵀ), the last layer's weights as one sphere, the biases as R^n.
let private layoutFactors (lastRadius: float) (l: Layout) =
    let depth = Layout.depth l
    [ for i in 0 .. depth - 2 do
          let fin, fout = Layout.dims l i
          for k in 0 .. fout - 1 ->
              { Factor = Sphere.create 1 fin; Take = fun x -> (Layout.weightT l i x).select(2L, int64 k) }
      let fin, fout = Layout.dims l (depth - 1)
      yield { Factor = Sphere.createWithRadius 1 (fin * fout) lastRadius
              Take = fun x -> (Layout.weightT l (depth - 1) x).reshape(x.shape[0], -1L) }
      yield { Factor = Manifold.euclidean (Layout.biasCount l)
              Take = fun x -> torch.cat([| for i in 0 .. depth - 1 -> Layout.bias l i x |], 1L) } ]

/// Every operation of the product, read through each factor's extraction, equals the factor's operation on the
/// extracted inputs; Inner is the sum and Dist the root sum of squares of the factors'. Bitwise-identical
/// arithmetic up to reduction order, hence 1e-12.
let private equalsFactors (m: Manifold) (factors: Factor list) (g: torch.Generator) (b: int) =
    let x = point m g b
    let y = Manifold.expmap m x (tangentUpTo m g x 2.0)
    let u = tangent m g x
    let w = tangent m g x
    let a = ambient g b m.Dim * 2.0
    let close (actual: Tensor) (expected: Tensor) what = Expect.allClose 1e-12 actual expected what
    let projx, proju, expmap, retr = m.Projx a, m.Proju x a, m.Expmap x u, m.Retr x u
    let logmap, transp = m.Logmap x y, m.Transp x y u
    for f in factors do
        let fm = f.Factor
        let tk = f.Take
        close (tk projx) (fm.Projx (tk a)) $"projx on {fm.Name}"
        close (tk proju) (fm.Proju (tk x) (tk a)) $"proju on {fm.Name}"
        close (tk expmap) (fm.Expmap (tk x) (tk u)) $"expmap on {fm.Name}"
        close (tk retr) (fm.Retr (tk x) (tk u)) $"retr on {fm.Name}"
        close (tk logmap) (fm.Logmap (tk x) (tk y)) $"logmap on {fm.Name}"
        close (tk transp) (fm.Transp (tk x) (tk y) (tk u)) $"transp on {fm.Name}"
    let sumOver (op: Factor -> Tensor) = torch.stack([| for f in factors -> op f |], 1L).sum(1L)
    close (m.Inner x u w) (sumOver (fun f -> f.Factor.Inner (f.Take x) (f.Take u) (f.Take w))) "inner = Σ inner"
    close ((m.Dist x y).pow(scalar 2.0)) (sumOver (fun f -> (f.Factor.Dist (f.Take x) (f.Take y)).pow(scalar 2.0))) "dist² = Σ dist²"
    close ((m.Violation a).pow(scalar 2.0)) (sumOver (fun f -> (f.Factor.Violation (f.Take a)).pow(scalar 2.0))) "violation² = Σ violation²"

// ---- Numerics at the edges --------------------------------------------------------------------------------------

/// Two points at a given angle on S^{dim-1}: x = e0, y = cos θ e0 + sin θ e1.
let private atAngle (dtype: torch.ScalarType) (dim: int) (theta: float) =
    let x = torch.zeros([| 1L; int64 dim |], dtype = dtype)
    x[0L, 0L] <- torch.tensor(1.0, dtype = dtype)
    let y = torch.zeros([| 1L; int64 dim |], dtype = dtype)
    y[0L, 0L] <- torch.tensor(Math.Cos theta, dtype = dtype)
    y[0L, 1L] <- torch.tensor(Math.Sin theta, dtype = dtype)
    x, y

/// The gradient of dist² with respect to y, for dist computed by `distance`.
let private gradDist2 (distance: Tensor -> Tensor -> Tensor) (x: Tensor) (y: Tensor) =
    let y = y.detach().requires_grad_(true)
    let f = (distance x y).pow(scalar 2.0).sum()
    torch.autograd.grad([| f |], [| y |])[0]

/// geoopt's float32 sphere distance as the thesis code uses it (anchors P7): arccos of the clamped dot product.
let private geooptDist (x: Tensor) (y: Tensor) = (x * y).sum(1L).clamp(scalar (-1.0 + 1e-4), scalar (1.0 - 1e-4)).acos()

[<Tests>]
let tests =
    testList "Manifold" [
        manifoldLaws "Euclidean laws" euclidean
        manifoldLaws "Sphere laws" sphere
        manifoldLaws "Sphere with radius laws" sphereWithRadius
        manifoldLaws "Product laws" product
        manifoldLaws "Weight-space product laws" weightSpace

        testProp "Product.create equals its factors" (fun (shape: byte * byte * byte) (seed: int) (b: byte) ->
            let segments = productSegments shape
            use g = Scope.Rng.create (int64 seed)
            Scope.value (fun () -> equalsFactors (Product.create segments) (segmentFactors segments) g (batch b)))

        testProp "WeightSpace.ofLayout equals its factors: neuron columns, last layer, biases" (fun (shape: SmallLayout) (seed: int) (b: byte) (r: byte) ->
            let l = layoutOf shape
            let r = radius r
            use g = Scope.Rng.create (int64 seed)
            Scope.value (fun () -> equalsFactors (WeightSpace.ofLayoutWithRadius r l) (layoutFactors r l) g (batch b)))

        test "groupedOrder of 3-2-2: neuron columns of Wᵀ, then the last layer, then biases" {
            // Wᵀ_0 is (3, 2) at 0..5: neuron 0's incoming weights are flat 0, 2, 4 and neuron 1's are 1, 3, 5.
            Expect.equal (WeightSpace.groupedOrder (Layout.parse "3-2-2")) [| 0; 2; 4; 1; 3; 5; 6; 7; 8; 9; 10; 11; 12; 13 |] "order"
            let m = WeightSpace.ofLayout (Layout.parse "3-2-2")
            Expect.equal m.Dim 14 "P"
            Expect.stringContains m.Name "2×S^2" "two neurons on S^2"
            Expect.stringContains m.Name "S^3" "last layer on S^3"
            Expect.stringContains m.Name "Euclidean(4)" "four biases"
        }

        test "a hidden neuron with one input lies on S^0: signs stay, nothing is NaN" {
            Scope.value (fun () ->
                let m = WeightSpace.ofLayout (Layout.parse "1-2-2")
                use g = Scope.Rng.create 7L
                let x = Manifold.projx m (ambient g 3 m.Dim)
                let w0 = Layout.weightT (Layout.parse "1-2-2") 0 x
                Expect.allClose tol (w0.abs()) (torch.ones_like w0) "incoming weights are ±1"
                let y = Manifold.projx m (ambient g 3 m.Dim)
                let l = Manifold.logmap m x y
                Expect.isFalse (l.isnan().any().ToBoolean()) "no NaN in logmap across S^0 components"
                let lw = Layout.weightT (Layout.parse "1-2-2") 0 l
                Expect.allClose tol lw (torch.zeros_like lw) "no tangent directions on S^0")
        }

        test "tiny angles: dist and logmap are accurate to relative precision (float64 1e-9 rad, float32 1e-5 rad)" {
            Scope.value (fun () ->
                let s = Sphere.create 1 3
                for dtype, theta, rel in [ torch.float64, 1e-9, 1e-6; torch.float32, 1e-5, 5e-2 ] do
                    // float64: the chord is exact to eps64/θ ≈ 2e-7 relative; float32 at 1e-5 rad: eps32/θ ≈ 1e-2.
                    let x, y = atAngle dtype 3 theta
                    let d = (Manifold.dist s x y).ToDouble()
                    Expect.floatClose { absolute = 0.0; relative = rel } d theta $"dist at {theta} rad ({dtype})"
                    let l = (Manifold.norm s x (Manifold.logmap s x y)).ToDouble()
                    Expect.floatClose { absolute = 0.0; relative = rel } l theta $"‖logmap‖ at {theta} rad ({dtype})")
        }

        test "near-antipodal points: dist and logmap are accurate to absolute precision" {
            Scope.value (fun () ->
                let s = Sphere.create 1 3
                for dtype, gap, abs in [ torch.float64, 1e-7, 1e-12; torch.float32, 1e-3, 1e-5 ] do
                    // Near π the chord sum ‖x + y‖ = 2 sin(gap/2) has absolute error ~eps, so θ does too.
                    let theta = Math.PI - gap
                    let x, y = atAngle dtype 3 theta
                    Expect.floatClose { absolute = abs; relative = 0.0 } ((Manifold.dist s x y).ToDouble()) theta $"dist at π - {gap} ({dtype})"
                    let l = Manifold.logmap s x y
                    Expect.floatClose { absolute = abs; relative = 0.0 } ((Manifold.norm s x l).ToDouble()) theta $"‖logmap‖ at π - {gap} ({dtype})"
                    Expect.allClose (abs * 10.0) (Manifold.expmap s x l) y "expmap x (logmap x y) = y")
        }

        test "float32 at 1e-3 rad: the gradient of dist² is -2 logmap (where geoopt's clamp gives exactly 0)" {
            Scope.value (fun () ->
                let s = Sphere.create 1 4
                let x, y = atAngle torch.float32 4 1e-3
                let g = gradDist2 (Manifold.dist s) x y
                let expected = Manifold.logmap s y x * -2.0
                // |grad| ≈ 2e-3; float32 chords at 1e-3 rad carry relative error ~eps32/θ ≈ 1.2e-4, so 1e-6 absolute
                // (5e-4 relative) bounds it with margin.
                Expect.allClose 1e-6 (Manifold.proju s y g) expected "grad = -2 log_y x in float32"
                Expect.isGreaterThan (g.norm().ToDouble()) 1e-3 "the gradient is not zeroed"
                // The same test fails for the anchor's formula: its clamp zeroes the gradient below 0.014 rad.
                let gGeoopt = gradDist2 geooptDist x y
                Expect.equal (gGeoopt.abs().max().ToDouble()) 0.0 "geoopt's clamped arccos has zero gradient here")
        }

        test "gradients stay finite at x = y and through the Taylor branches" {
            Scope.value (fun () ->
                let s = Sphere.create 2 3
                use g = Scope.Rng.create 3L
                let x = point s g 2
                let xg = x.detach().requires_grad_(true)
                let u = (tangent s g x * 1e-12).requires_grad_(true)
                let f = (Manifold.dist s x xg).pow(scalar 2.0).sum() + (Manifold.logmap s x xg).sum() + (Manifold.expmap s xg u).sum()
                let grads = torch.autograd.grad([| f |], [| xg; u |])
                for gr in grads do Expect.isFalse (gr.isnan().any().ToBoolean() || gr.isinf().any().ToBoolean()) "finite gradient")
        }

        test "Euclidean geodesic is linear interpolation; scalar t broadcasts" {
            Scope.value (fun () ->
                let m = Manifold.euclidean 5
                use g = Scope.Rng.create 11L
                let x0 = ambient g 3 5
                let x1 = ambient g 3 5
                let t = torch.tensor(0.3, dtype = f64)
                Expect.allClose tol (Path.geodesic m x0 x1 t) (x0 * 0.7 + x1 * 0.3) "x_t = 0.7 x0 + 0.3 x1"
                Expect.allClose tol (Path.conditionalVelocity m (x0 * 0.7 + x1 * 0.3) x1 t) (x1 - x0) "u_t = x1 - x0")
        }

        test "Manifold.create derives dist from logmap and inner" {
            Scope.value (fun () ->
                let s = Sphere.create 3 4
                let derived = Manifold.create "derived" s.Dim s.Projx s.Proju s.Expmap s.Logmap s.Inner s.Random
                use g = Scope.Rng.create 5L
                let x = point s g 4
                let y = Manifold.expmap s x (tangentUpTo s g x 2.0)
                Expect.allClose tol (Manifold.dist derived x y) (Manifold.dist s x y) "derived dist = sphere dist"
                Expect.allClose tol (Manifold.retr derived x (torch.zeros_like x)) x "retr x 0 = x")
        }

        test "wrong shapes give errors naming the expected shape" {
            let m = Sphere.create 3 4
            use x = torch.zeros(2L, 10L)
            let e = Expect.throwsC (fun () -> Manifold.projx m x |> ignore) id
            Expect.stringContains e.Message "[B, 12]" "names the expected width"
            Expect.throwsT<ArgumentException> (fun () -> Sphere.createWithRadius 1 3 0.0 |> ignore) "zero radius"
            Expect.throwsT<ArgumentException> (fun () -> Product.create [] |> ignore) "empty product"
        }
    ]
