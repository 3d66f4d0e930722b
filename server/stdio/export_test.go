package stdio

// ErrCodeBusy is errCodeBusy, for the tests of the app over stdio.
const ErrCodeBusy = errCodeBusy

// SetMaxInFlight lowers the in-flight cap for a test and returns what restores it.
func SetMaxInFlight(n int) (restore func()) {
	old := maxInFlight
	maxInFlight = n
	return func() { maxInFlight = old }
}
