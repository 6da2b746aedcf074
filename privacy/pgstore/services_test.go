package pgstore_test

import "github.com/rampart-sdk/rampart/privacy/internal/svctest"

// services are privacy's three services over one store, as a host wires
// them (svctest.Services); newServices builds them.
type services = svctest.Services

var newServices = svctest.New
