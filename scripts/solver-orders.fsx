#!/usr/bin/env -S dotnet fsi
// Measured convergence orders of the fixed-step solvers (src/Ode/Solver.fs), float64, on two fields with known
// solutions: dx/dt = t·x in R^3 (x(1) = x0·e^{1/2}) and a rotation about e_z with angular speed 1 + t on S^2
// (rotation by 1.5, orbits off the equator, so not geodesics). Also the RK4 built from expmap stages with velocities
// transported back (not in the library), to show why the library's manifold RK4 is a projection method.
// Run: dotnet build src/WeightFlow.Cli -c Release && dotnet fsi scripts/solver-orders.fsx
#load "_load.fsx"
open TorchSharp
open WeightFlow

let starts () =
    let x = T.ofArray64 torch.CPU [ 3; 3 ] [| 1.0; 0.5; 0.8; -0.3; 0.9; -0.4; 0.2; -0.7; 0.6 |]
    x / x.norm(1, true)

let rotation : VectorField =
    fun t x ->
        let a = x.narrow(1L, 0L, 1L)
        let b = x.narrow(1L, 1L, 1L)
        torch.cat([| b.neg(); a; torch.zeros_like(a) |], 1L) * (Field.column t + 1.0)

let rotated (phi: float) (x: Tensor) =
    let a = x.narrow(1L, 0L, 1L)
    let b = x.narrow(1L, 1L, 1L)
    torch.cat([| a * cos phi - b * sin phi; a * sin phi + b * cos phi; x.narrow(1L, 2L, 1L) |], 1L)

let sphere = Sphere.create 1 3

/// RK4 with on-manifold stages via expmap and stage velocities parallel-transported back to x.
let transportedRk4 (m: Manifold) : Step =
    fun field t dt x ->
        let at s y = Manifold.proju m y (field (Field.times y s) y)
        let back y v = Manifold.transp m y x v
        let h = dt / 2.0
        let k1 = at t x
        let y2 = Manifold.expmap m x (k1 * h)
        let k2 = back y2 (at (t + h) y2)
        let y3 = Manifold.expmap m x (k2 * h)
        let k3 = back y3 (at (t + h) y3)
        let y4 = Manifold.expmap m x (k3 * dt)
        let k4 = back y4 (at (t + dt) y4)
        Manifold.expmap m x ((k1 + k2 * 2.0 + k3 * 2.0 + k4) * (dt / 6.0))

let error (step: Step) (field: VectorField) (exact: Tensor -> Tensor) (k: int) =
    use x0 = starts ()
    use x = Integrate.run step field (TimeGrid.uniform k) x0
    T.maxAbsDiff x (exact x0)

let report (name: string) (step: Step) field exact =
    let ks = [ 4; 8; 16; 32; 64 ]
    let es = ks |> List.map (error step field exact)
    let orders = List.pairwise es |> List.map (fun (a, b) -> log (a / b) / log 2.0)
    printfn "%-28s errors %s | orders %s" name (es |> List.map (sprintf "%.2e") |> String.concat " ")
        (orders |> List.map (sprintf "%.2f") |> String.concat " ")

printfn "K = 4, 8, 16, 32, 64 steps; order = log2(e(K)/e(2K))"
let linear : VectorField = fun t x -> x * Field.column t
for name, meth in [ "Euler", Method.Euler; "Heun", Method.Heun; "RK4", Method.Rk4 ] do
    report $"R^3 {name}" (Solver.ofMethod meth) linear (fun x0 -> x0 * exp 0.5)
for name, meth in [ "Euler", Method.Euler; "Heun", Method.Heun; "RK4", Method.Rk4 ] do
    report $"S^2 {name}" (Solver.onManifold sphere meth) rotation (rotated 1.5)
report "S^2 RK4 (transported stages)" (transportedRk4 sphere) rotation (rotated 1.5)
