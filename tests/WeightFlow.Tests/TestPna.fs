module WeightFlow.Tests.TestPna
