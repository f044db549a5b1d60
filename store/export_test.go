package store

// ByEmail is the condition FindSubject looks subjects up by e-mail with
// (for the plan test).
const ByEmail = byEmail
