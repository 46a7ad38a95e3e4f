// Loads the built WeightFlow library into F# Interactive. Build first:
//   dotnet build src/WeightFlow.Cli -c Release
// The CLI's output folder holds WeightFlow.Core, TorchSharp and the libtorch natives side by side.
#r "../src/WeightFlow.Cli/bin/Release/net10.0/TorchSharp.dll"
#r "../src/WeightFlow.Cli/bin/Release/net10.0/WeightFlow.Core.dll"

// Patches the native library copy if this system's libstdc++ needs it, then loads libtorch.
WeightFlow.Engine.ensureLoaded ()
