module ffi-bridge/mk/gen

go 1.26.0
