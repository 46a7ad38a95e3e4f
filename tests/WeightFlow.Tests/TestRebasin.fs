module WeightFlow.Tests.TestRebasin
