module WeightFlow.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    match argv with
    | [| "--host-probe"; mode |] -> HostProbe.run mode
    | a when a.Length > 0 && a[0] = "--reliability-probe" ->
        WeightFlow.Engine.configureProcess WeightFlow.Engine.ProcessSettings.tuned
        ReliabilityProbe.run a[1..]
    | _ ->
        // The test runner is a host: it asks for the CLI's measured settings (OpenMP spin, allocator) explicitly.
        WeightFlow.Engine.configureProcess WeightFlow.Engine.ProcessSettings.tuned
        Tests.runTestsInAssemblyWithCLIArgs [] argv
