/// Product of unit spheres over rows of a [B, groups, dim] view (issue 3).
[<RequireQualifiedAccess>]
module WeightFlow.Sphere

let internal placeholder = ()
