package admin

// FoldName exposes foldName to the external tests.
var FoldName = foldName
