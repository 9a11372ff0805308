//! A Keras model's stored config (`config.json` in a `.keras` archive, the `model_config`
//! attribute of a legacy `.h5`) read into a tree of layers and the calls between them.
//! Both serializations are read: Keras 3's `{"args": [__keras_tensor__…], "kwargs": …}` nodes
//! and Keras 2's `[["layer", node, tensor, {kwargs}], …]` lists. Nothing here runs code: a
//! `Lambda` (marshalled Python bytecode) or a custom object is refused by name, as Keras's own
//! `safe_mode=True` does.

use serde_json::Value;

/// One output tensor of one call of a layer: Keras's `keras_history` triple.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorRef {
    pub layer: String,
    pub node: usize,
    pub tensor: usize,
}

#[derive(Clone, Debug)]
pub struct KLayer {
    pub class_name: String,
    pub name: String,
    /// The stored `config` dict, verbatim (what `get_config()` returns).
    pub config: Value,
    /// The calls of this layer inside its model: each call's input tensors.
    pub calls: Vec<Vec<TensorRef>>,
    /// A nested model (Functional or Sequential used as a layer).
    pub model: Option<Box<KModel>>,
}

#[derive(Clone, Debug)]
pub struct KModel {
    pub name: String,
    pub class_name: String,
    pub layers: Vec<KLayer>,
    pub inputs: Vec<TensorRef>,
    pub outputs: Vec<TensorRef>,
}

/// The classes whose config is a model of its own.
fn is_model_class(class: &str) -> bool {
    matches!(class, "Functional" | "Model" | "Sequential")
}

type Res<T> = std::result::Result<T, String>;

/// Reads a model config (the whole `{"class_name": …, "config": …}` object).
pub fn parse(root: &Value) -> Res<KModel> {
    parse_model(root, 0)
}

/// Nesting deeper than this is not a real model (and would exhaust the stack).
const MAX_DEPTH: usize = 32;

fn parse_model(v: &Value, depth: usize) -> Res<KModel> {
    if depth > MAX_DEPTH {
        return Err(format!("models nested more than {MAX_DEPTH} deep"));
    }
    let class = str_of(v, "class_name")?;
    let config = v
        .get("config")
        .ok_or_else(|| format!("the {class} entry has no 'config'"))?;
    let name = config
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("model")
        .to_string();
    let layers_json = match config.get("layers") {
        Some(Value::Array(a)) => a,
        // Keras 2.0's Sequential stored the list itself as its config.
        None if config.is_array() => config.as_array().map_or(&[][..], |a| a.as_slice()),
        _ => return Err(format!("model '{name}' ({class}) has no layer list")),
    };
    let mut layers = layers_json
        .iter()
        .map(|l| parse_layer(l, depth))
        .collect::<Res<Vec<_>>>()?;
    if class == "Sequential" {
        return sequential(name, class.to_string(), layers, config);
    }
    if !matches!(class, "Functional" | "Model") {
        return Err(format!(
            "the model is a {class}; convscope opens Functional and Sequential models \
             (a subclassed model has no stored graph: save it as a Functional model)"
        ));
    }
    let inputs = refs(config.get("input_layers"))?;
    let outputs = refs(config.get("output_layers"))?;
    // Keras 3 does not store calls for InputLayers; they are tensors of their own.
    for l in layers.iter_mut() {
        if l.class_name == "InputLayer" {
            l.calls.clear();
        }
    }
    Ok(KModel {
        name,
        class_name: class.to_string(),
        layers,
        inputs,
        outputs,
    })
}

/// A Sequential model as the chain it is: each layer called once on the previous one's output.
/// Its input comes from a leading InputLayer or from the first layer's `batch_shape` (Keras 3)
/// / `batch_input_shape` (Keras 2).
fn sequential(
    name: String,
    class_name: String,
    mut layers: Vec<KLayer>,
    config: &Value,
) -> Res<KModel> {
    if layers.first().is_none_or(|l| l.class_name != "InputLayer") {
        let shape = layers
            .first()
            .and_then(|l| {
                l.config
                    .get("batch_shape")
                    .or_else(|| l.config.get("batch_input_shape"))
            })
            .cloned()
            .or_else(|| config.get("build_input_shape").cloned())
            .ok_or_else(|| {
                format!(
                    "Sequential model '{name}' stores no input shape (it was never built); \
                     build it (call it on an input or give an Input layer) and save it again"
                )
            })?;
        layers.insert(
            0,
            KLayer {
                class_name: "InputLayer".into(),
                name: format!("{name}_input"),
                config: serde_json::json!({ "batch_shape": shape, "name": format!("{name}_input") }),
                calls: vec![],
                model: None,
            },
        );
    }
    for i in 1..layers.len() {
        let prev = TensorRef {
            layer: layers[i - 1].name.clone(),
            node: 0,
            tensor: 0,
        };
        layers[i].calls = vec![vec![prev]];
    }
    layers[0].calls.clear();
    let last = layers.last().map(|l| l.name.clone()).unwrap_or_default();
    let first = layers[0].name.clone();
    Ok(KModel {
        name,
        class_name,
        inputs: vec![TensorRef {
            layer: first,
            node: 0,
            tensor: 0,
        }],
        outputs: vec![TensorRef {
            layer: last,
            node: 0,
            tensor: 0,
        }],
        layers,
    })
}

fn str_of<'a>(v: &'a Value, key: &str) -> Res<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("a layer entry has no '{key}'"))
}

fn parse_layer(v: &Value, depth: usize) -> Res<KLayer> {
    let class = str_of(v, "class_name")?.to_string();
    let config = v.get("config").cloned().unwrap_or(Value::Null);
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| config.get("name").and_then(Value::as_str))
        .ok_or_else(|| format!("a {class} layer has no name"))?
        .to_string();
    refuse_code(&class, &name, v)?;
    let model = if is_model_class(&class) {
        Some(Box::new(parse_model(v, depth + 1)?))
    } else {
        None
    };
    let calls = match v.get("inbound_nodes") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(nodes)) => nodes.iter().map(node_inputs).collect::<Res<_>>()?,
        Some(_) => return Err(format!("layer '{name}': 'inbound_nodes' is not a list")),
    };
    Ok(KLayer {
        class_name: class,
        name,
        config,
        calls,
        model,
    })
}

/// Keras's `safe_mode`: a Lambda carries Python bytecode, and a class outside Keras's own
/// modules is code convscope does not have. Both are refused by name.
fn refuse_code(class: &str, name: &str, v: &Value) -> Res<()> {
    if class == "Lambda" || class == "TFOpLambda" || class == "SlicingOpLambda" {
        return Err(format!(
            "layer '{name}' is a {class}: it stores Python code, which convscope never runs \
             (Keras refuses it too under safe_mode=True); replace it with built-in layers \
             and save the model again, or export the model to ONNX"
        ));
    }
    let module = v.get("module").and_then(Value::as_str);
    let registered = v.get("registered_name").and_then(Value::as_str);
    let custom = module.is_some_and(|m| m != "keras" && !m.starts_with("keras."))
        || registered.is_some_and(|r| r.contains('>'));
    if custom {
        return Err(format!(
            "layer '{name}' is the custom class '{}'; convscope runs only Keras's built-in \
             layers and never imports code: replace it with built-in layers, or export the \
             model to ONNX",
            registered.or(module).unwrap_or(class),
        ));
    }
    Ok(())
}

/// The input tensors of one call, in either serialization.
fn node_inputs(node: &Value) -> Res<Vec<TensorRef>> {
    let mut out = vec![];
    match node {
        // Keras 3: {"args": [...], "kwargs": {...}}; tensors may sit in nested lists.
        Value::Object(o) => {
            if let Some(args) = o.get("args") {
                collect_tensors(args, &mut out, 0)?;
            }
        }
        // Keras 2: [["layer", node, tensor, {kwargs}], ...]
        Value::Array(items) => {
            for item in items {
                out.push(legacy_ref(item)?);
            }
        }
        _ => return Err("an inbound node is neither a list nor a dict".into()),
    }
    Ok(out)
}

fn collect_tensors(v: &Value, out: &mut Vec<TensorRef>, depth: usize) -> Res<()> {
    if depth > MAX_DEPTH {
        return Err("inbound node nested too deep".into());
    }
    match v {
        Value::Array(items) => {
            for i in items {
                collect_tensors(i, out, depth + 1)?;
            }
        }
        Value::Object(o)
            if o.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") =>
        {
            let history = o
                .get("config")
                .and_then(|c| c.get("keras_history"))
                .ok_or("a tensor without keras_history")?;
            out.push(legacy_ref(history)?);
        }
        _ => {}
    }
    Ok(())
}

/// `["layer", node, tensor, …]`.
fn legacy_ref(v: &Value) -> Res<TensorRef> {
    let a = v.as_array().ok_or("a tensor reference is not a list")?;
    let layer = a
        .first()
        .and_then(Value::as_str)
        .ok_or("a tensor reference without a layer name")?;
    let index = |i: usize| -> Res<usize> {
        a.get(i)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n < 1 << 20)
            .ok_or_else(|| format!("tensor reference to '{layer}' has a bad index"))
    };
    Ok(TensorRef {
        layer: layer.to_string(),
        node: index(1)?,
        tensor: index(2)?,
    })
}

/// `input_layers`/`output_layers`: one reference or a list (or dict) of them.
fn refs(v: Option<&Value>) -> Res<Vec<TensorRef>> {
    let v = v.ok_or("the model names no input or output layers")?;
    let mut out = vec![];
    fn walk(v: &Value, out: &mut Vec<TensorRef>, depth: usize) -> Res<()> {
        if depth > MAX_DEPTH {
            return Err("input/output list nested too deep".into());
        }
        match v {
            Value::Array(a) if a.first().is_some_and(Value::is_string) => out.push(legacy_ref(v)?),
            Value::Array(a) => {
                for i in a {
                    walk(i, out, depth + 1)?;
                }
            }
            Value::Object(o) => {
                for i in o.values() {
                    walk(i, out, depth + 1)?;
                }
            }
            _ => return Err("a model input/output is not a layer reference".into()),
        }
        Ok(())
    }
    walk(v, &mut out, 0)?;
    Ok(out)
}
