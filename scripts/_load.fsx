// Loads the built WeightFlow library into F# Interactive. Build first:
//   dotnet build src/WeightFlow.Cli -c Release
// The CLI's output folder holds WeightFlow.Core, TorchSharp and the libtorch natives side by side.
#r "../src/WeightFlow.Cli/bin/Release/net10.0/TorchSharp.dll"
#r "../src/WeightFlow.Cli/bin/Release/net10.0/WeightFlow.Core.dll"

// The scripts are a host like the CLI: the measured process settings (OpenMP spin, allocator; README "Engineering
// notes") with the CLI's environment overrides (WEIGHTFLOW_THREADS=n: libtorch's intra-op threads, unset: all cores;
// WEIGHTFLOW_FUSED=0: the torch-operation attention path), then libtorch (patching the native library copy first if
// this system needs it). Scripts that did not read WEIGHTFLOW_THREADS ran on both cores of the shared machine and
// their training step cost 6.4-6.5x the CPU of the CLI's one-thread step (docs/results/fsi-results.md).
match WeightFlow.Engine.ProcessSettings.withEnvironment WeightFlow.Engine.ProcessSettings.tuned with
| Ok settings -> WeightFlow.Engine.configureProcess settings
| Error msg -> failwith msg

// No background (concurrent) GC, as in the CLI's runtimeconfig. F# Interactive runs server GC with background GC; its
// heap grew past the heap guard's working set (src/Process/Heap.fs), which then trimmed glibc's heap on 73 of 300
// steps (the CLI: 19), each trimmed step faulting its memory in again (1.7-2.8M page faults a run, the CLI 1.1-1.2M).
// Without background GC: 24 and 37 trims (the CLI: 22, 19), 1.0-1.7M faults; a one-thread step still cost 1.02-1.14x
// the CLI's CPU (before: 1.13-1.28x; docs/results/fsi-results.md). Server GC is fixed at process start; background GC
// can be switched off here.
System.Runtime.GCSettings.LatencyMode <- System.Runtime.GCLatencyMode.Batch

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
