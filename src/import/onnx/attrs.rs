//! Typed access to a node's attributes, with errors that name the node and the attribute.

use super::proto::{attr_type, AttributeProto, NodeProto, TensorProto};
use crate::error::{Error, Result};

pub struct Attrs<'a> {
    node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    pub fn new(node: &'a NodeProto) -> Self {
        Attrs { node }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    fn err(&self, detail: String) -> Error {
        Error::graph(node_label(self.node), detail)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        match self.get(name) {
            None => Ok(default),
            Some(a) if a.r#type == attr_type::INT || a.r#type == 0 => Ok(a.i),
            Some(_) => Err(self.err(format!("attribute '{name}' should be an integer"))),
        }
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        match self.get(name) {
            None => Ok(default),
            Some(a) if a.r#type == attr_type::FLOAT || a.r#type == 0 => Ok(a.f),
            Some(_) => Err(self.err(format!("attribute '{name}' should be a float"))),
        }
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == attr_type::INTS || a.r#type == 0 => Ok(Some(a.ints.clone())),
            Some(_) => Err(self.err(format!("attribute '{name}' should be a list of integers"))),
        }
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == attr_type::FLOATS || a.r#type == 0 => Ok(Some(a.floats.clone())),
            Some(_) => Err(self.err(format!("attribute '{name}' should be a list of floats"))),
        }
    }

    pub fn string(&self, name: &str) -> Result<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == attr_type::STRING || a.r#type == 0 => {
                Ok(Some(String::from_utf8_lossy(&a.s).into_owned()))
            }
            Some(_) => Err(self.err(format!("attribute '{name}' should be a string"))),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>> {
        match self.get(name) {
            None => Ok(None),
            Some(a) if a.r#type == attr_type::TENSOR || a.t.is_some() => {
                a.t.as_ref()
                    .map(Some)
                    .ok_or_else(|| self.err(format!("attribute '{name}' holds no tensor")))
            }
            Some(_) => Err(self.err(format!("attribute '{name}' should be a tensor"))),
        }
    }

    /// A list attribute of exactly `n` non-negative integers, or `default` when absent.
    pub fn usizes(&self, name: &str, n: usize, default: usize) -> Result<Vec<usize>> {
        match self.ints(name)? {
            None => Ok(vec![default; n]),
            Some(v) if v.len() == n && v.iter().all(|&x| (0..1 << 20).contains(&x)) => {
                Ok(v.into_iter().map(|x| x as usize).collect())
            }
            Some(v) => Err(self.err(format!(
                "attribute '{name}' = {v:?} should hold {n} non-negative integers"
            ))),
        }
    }
}

/// How error messages name a node: its name, or its op and first output when unnamed.
pub fn node_label(node: &NodeProto) -> String {
    if node.name.is_empty() {
        format!(
            "{} -> {}",
            node.op_type,
            node.output.first().map(String::as_str).unwrap_or("?")
        )
    } else {
        node.name.clone()
    }
}
