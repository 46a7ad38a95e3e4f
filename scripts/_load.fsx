// Loads the built WeightFlow library into F# Interactive. Build first:
//   dotnet build src/WeightFlow.Cli -c Release
// The CLI's output folder holds WeightFlow.Core, TorchSharp and the libtorch natives side by side.
#r "../src/WeightFlow.Cli/bin/Release/net10.0/TorchSharp.dll"
#r "../src/WeightFlow.Cli/bin/Release/net10.0/WeightFlow.Core.dll"

// The scripts are a host like the CLI: the measured process settings (OpenMP spin, allocator; README "Engineering
// notes"), then libtorch (patching the native library copy first if this system needs it).
WeightFlow.Engine.configureProcess WeightFlow.Engine.ProcessSettings.tuned

// F# Interactive does not map NuGet runtime assets to runtimes/linux-x64/native, and .NET then looks for ScottPlot's
// SkiaSharp natives (the figures of report.md) only beside the DLLs; a resolver points them at that folder.
#r "../src/WeightFlow.Cli/bin/Release/net10.0/SkiaSharp.dll"
#r "../src/WeightFlow.Cli/bin/Release/net10.0/HarfBuzzSharp.dll"
let private nativeDir = System.IO.Path.Combine(__SOURCE_DIRECTORY__, "../src/WeightFlow.Cli/bin/Release/net10.0/runtimes/linux-x64/native")
for assembly in [ typeof<SkiaSharp.SKTypeface>.Assembly; typeof<HarfBuzzSharp.Font>.Assembly ] do
    System.Runtime.InteropServices.NativeLibrary.SetDllImportResolver(assembly, fun name _ _ ->
        let path = System.IO.Path.Combine(nativeDir, name + ".so")
        if System.IO.File.Exists path then System.Runtime.InteropServices.NativeLibrary.Load path else nativeint 0)

/// A script setting from the environment variable `k`, or `d` when it is unset or empty (the experiment scripts take
/// their settings this way).
let env (k: string) (d: string) = match System.Environment.GetEnvironmentVariable k with null | "" -> d | v -> v
