// PLACEHOLDER: replaced by the method's implementation (see methods.md).
export {};
