module WeightFlow.Tests.TestManifold
