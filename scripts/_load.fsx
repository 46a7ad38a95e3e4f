// Loads the built WeightFlow library into F# Interactive. Build first:
//   dotnet build src/WeightFlow.Cli -c Release
// The CLI's output folder holds WeightFlow.Core, TorchSharp and the libtorch natives side by side.
#r "../src/WeightFlow.Cli/bin/Release/net10.0/TorchSharp.dll"
#r "../src/WeightFlow.Cli/bin/Release/net10.0/WeightFlow.Core.dll"

// The scripts are a host like the CLI: the measured process settings (OpenMP spin, allocator; README "Engineering
// notes"), then libtorch (patching the native library copy first if this system needs it).
WeightFlow.Engine.configureProcess WeightFlow.Engine.ProcessSettings.tuned
