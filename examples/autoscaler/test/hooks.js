// Module resolution hook (see register.js): the provider's interface -> the fake.
const WIT_IMPORT = 'wasmcloud:lattice-control/lattice-control@1.2.0';

export async function resolve(specifier, context, next) {
  if (specifier === WIT_IMPORT) {
    return { url: new URL('./fake-provider.js', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
