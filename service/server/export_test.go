package server

// What package server_test reaches of this package: its tests start the
// whole app (service/app/apptest), which imports this package and so can't
// be imported by its internal tests.
var Compress = compress

const MaxHeldCompressed = maxHeldCompressed
