module WeightFlow.Tests.Main

open Expecto

[<EntryPoint>]
let main argv =
    WeightFlow.Engine.ensureLoaded ()
    Tests.runTestsInAssemblyWithCLIArgs [] argv
