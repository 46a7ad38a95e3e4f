module WeightFlow.Tests.TestData
