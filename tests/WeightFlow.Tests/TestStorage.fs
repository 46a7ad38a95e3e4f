module WeightFlow.Tests.TestStorage
