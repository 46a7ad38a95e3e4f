module WeightFlow.Tests.TestZoo
