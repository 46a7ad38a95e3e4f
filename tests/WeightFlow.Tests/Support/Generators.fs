/// Generated inputs: seeds and shapes, never tensors (tensors are built inside properties from a seeded Generator).
module WeightFlow.Tests.Generators

open Expecto
open FsCheck
open FsCheck.FSharp

/// A small MLP layout: depth 1-3 weight layers, widths 1-6.
type SmallLayout = SmallLayout of int list

type Arbs =
    static member SmallLayout() : Arbitrary<SmallLayout> =
        gen {
            let! depth = Gen.choose (1, 3)
            let! widths = Gen.listOfLength (depth + 1) (Gen.choose (1, 6))
            return SmallLayout widths
        }
        |> Arb.fromGen

/// FsCheck configuration shared by all properties: 100 cases, small sizes (CI budget: 2 cores, 10 minutes).
let config =
    { FsCheckConfig.defaultConfig with maxTest = 100; endSize = 20; arbitrary = [ typeof<Arbs> ] }

/// A property test with the project's configuration.
let testProp name property = testPropertyWithConfig config name property
