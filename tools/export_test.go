package tools

// NewFileRecorderOn lets tests give FileRecorder a file that watches its writes and syncs.
func NewFileRecorderOn(f interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}) *FileRecorder {
	return newFileRecorder(f)
}
