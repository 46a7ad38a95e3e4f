/// Unique temporary paths for tests that write flow checkpoints or samples (one definition for the Flow tests).
module WeightFlow.Tests.TempFiles

open System
open System.IO

/// A fresh path under the system temp folder, named after the test: wf-<name>-<guid>.safetensors (not created).
let safetensors (name: string) = Path.Combine(Path.GetTempPath(), $"wf-{name}-{Guid.NewGuid():N}.safetensors")
