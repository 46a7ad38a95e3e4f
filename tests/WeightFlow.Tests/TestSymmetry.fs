module WeightFlow.Tests.TestSymmetry
